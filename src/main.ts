import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { ConfigError, readConfig, type Config } from './config.ts';
import { createLogger } from './node/logger.ts';
import { ReplicaNode } from './node/replica-node.ts';
import { createApp } from './http/app.ts';
import { answerClientErrorsWithJson } from './http/client-errors.ts';
import { systemClock, systemTimers } from './system.ts';
import { MemoryStorage } from './storage/memory-storage.ts';
import { HttpTransport } from './transport/http-transport.ts';
import type { OnFatal } from './http/errors.ts';

/**
 * A fresh incarnation per start: milliseconds since the epoch plus randomness, base 36. Events
 * made by this life carry it, so a restart never reuses an event identity.
 */
function newIncarnation(): string {
  return (Date.now().toString(36) + randomBytes(3).toString('hex')).slice(0, 16);
}

function start(config: Config): void {
  const log = createLogger(config.logLevel, config.socketAddress);
  // A bug still crashes the process, but as one JSON line with its stack rather than bare stderr text.
  process.on('uncaughtException', (error) => {
    log.fatal({ event: 'error', err: error }, 'uncaught exception: exiting');
    process.exit(70);
  });
  const transport = new HttpTransport({
    limits: config.limits,
    sourceAddress: config.peerSourceAddress,
    connectTimeoutMs: config.peerConnectTimeoutMs,
    requestTimeoutMs: config.peerRequestTimeoutMs,
    probeTimeoutMs: config.probeTimeoutMs,
    clusterToken: config.clusterToken,
  });
  const incarnation = newIncarnation();
  const node = new ReplicaNode({
    config,
    incarnation,
    boot: incarnation,
    clock: systemClock,
    timers: systemTimers,
    transport,
    storage: new MemoryStorage(),
    log,
  });
  // A broken invariant met in a request (src/core/assert.ts): the same end as one met in a timer.
  const onFatal: OnFatal = (error, where) => {
    log.fatal({ event: 'error', err: error, ...where }, 'invariant violated in a request: exiting');
    process.exit(70);
  };
  const app = createApp({ node, limits: config.limits, log, clusterToken: config.clusterToken, onFatal });
  const server: Server = app.listen(config.listenPort, config.listenHost, () => {
    log.info(
      { event: 'listening', listen: `${config.listenHost}:${config.listenPort}`, view: config.view, incarnation: node.core.incarnation },
      'replica started',
    );
    node.start();
  });
  answerClientErrorsWithJson(server);
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 30_000;
  server.on('error', (error) => {
    log.fatal({ event: 'error', err: error }, 'cannot listen');
    process.exit(1);
  });

  const shutdown = (signal: string): void => {
    log.info({ event: 'shutdown', signal }, 'stopping');
    node.stop();
    server.close();
    server.closeAllConnections();
    process.exit(0);
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

try {
  start(readConfig(process.env));
} catch (error) {
  if (error instanceof ConfigError) {
    process.stderr.write(`causal-kvs: ${error.message}\n`);
    process.exit(2);
  }
  throw error;
}
