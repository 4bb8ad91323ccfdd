import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { ConfigError, readConfig, type Config } from './config.ts';
import { createLogger, type Logger } from './node/logger.ts';
import { ReplicaNode } from './node/replica-node.ts';
import type { Storage, StoredState } from './node/storage.ts';
import { createApp } from './http/app.ts';
import { answerClientErrorsWithJson } from './http/client-errors.ts';
import { systemClock, systemTimers } from './system.ts';
import { DurableLog } from './storage/durable-log.ts';
import { MemoryStorage } from './storage/memory-storage.ts';
import { DataDirLockedError, StorageIoError } from './storage/storage-errors.ts';
import { HttpTransport } from './transport/http-transport.ts';
import type { Address } from '../events/ids.ts';
import { initialShardMap, type ShardMap } from '../events/shard-map.ts';
import type { QuiescedClocks } from '../events/shard-messages.ts';
import { ValidationError } from '../events/validation-error.ts';
import { discoverShardMap } from './shard/discover.ts';
import { gossipMap, spreadMap } from './shard/map-spread.ts';
import { finishStalledReshards } from './shard/stalled-reshard.ts';
import { handOffStrandedWrites } from './shard/handoff.ts';
import { ShardClient } from './shard/shard-client.ts';
import { ShardedNode } from './shard/sharded-node.ts';
import { reshardRunningAsker } from './shard/ask-reshard-running.ts';
import type { OnFatal } from './http/errors.ts';

/**
 * A fresh id: milliseconds since the epoch plus randomness, base 36 (at most 16 characters of
 * [0-9a-z]). Used for the boot of every process start, and for an incarnation when there is no
 * DATA_DIR, or the DATA_DIR is new or damaged. Events carry their life's incarnation, so a new
 * life never reuses an event identity.
 */
function newId(): string {
  return (Date.now().toString(36) + randomBytes(3).toString('hex')).slice(0, 16);
}

/** How long SIGTERM/SIGINT waits for the durable log to write what is queued before the process exits anyway. */
const closeBoundMs = 6000;

/** Ends the process with one line on stderr (a person reads it; the JSON log may go elsewhere). */
function exitWith(code: number, message: string): never {
  process.stderr.write(`causal-kvs: ${message}\n`);
  process.exit(code);
}

interface OpenedStorage {
  readonly storage: Storage;
  readonly durable: DurableLog | undefined;
  readonly incarnation: string;
  readonly incarnationSource: 'new' | 'read' | 'created' | 'replaced-after-damage';
  readonly restored: StoredState | undefined;
}

/**
 * Without DATA_DIR: memory only, a new incarnation. With DATA_DIR: the durable log, opened (and
 * recovered, with its one log line) before the node is built; the incarnation is the DATA_DIR's.
 * A DATA_DIR another live process holds exits 2; one that cannot be read or written exits 1.
 */
async function openStorage(config: Config, log: Logger): Promise<OpenedStorage> {
  if (config.dataDir === undefined) {
    return { storage: new MemoryStorage(), durable: undefined, incarnation: newId(), incarnationSource: 'new', restored: undefined };
  }
  try {
    const opened = await DurableLog.open(config.dataDir, { fsync: config.fsync, log, incarnation: newId });
    return { storage: opened.storage, durable: opened.storage, incarnation: opened.incarnation, incarnationSource: opened.incarnationSource, restored: opened.state };
  } catch (error) {
    // One line on stderr, as for a configuration error: a person has to act.
    if (error instanceof DataDirLockedError) exitWith(2, error.message);
    if (error instanceof StorageIoError) exitWith(1, `cannot use DATA_DIR ${config.dataDir}: ${error.reason}`);
    throw error;
  }
}

async function start(config: Config): Promise<void> {
  const log = createLogger(config.logLevel, config.socketAddress);
  // A bug still crashes the process, but as one JSON line with its stack rather than bare stderr text.
  process.on('uncaughtException', (error) => {
    log.fatal({ event: 'error', err: error }, 'uncaught exception: exiting');
    process.exit(70);
  });
  const shardClient = new ShardClient({ sourceAddress: config.peerSourceAddress, connectTimeoutMs: config.peerConnectTimeoutMs, clusterToken: config.clusterToken, answerBytesMax: config.limits.peerBodyBytesMax });
  const discovered = await discoverShardMap(config.socketAddress, config.view, shardClient, config.limits);
  let map = discovered.map;
  if (map === undefined && config.shardCount !== undefined) {
    try {
      map = initialShardMap(config.view, config.shardCount);
    } catch (error) {
      if (error instanceof ValidationError) exitWith(2, `SHARD_COUNT=${config.shardCount}: ${error.message} (VIEW has ${config.view.length} nodes)`);
      throw error;
    }
  }
  if (map !== undefined) return startSharded(config, log, map, discovered.view, discovered.quiesced, shardClient);
  shardClient.close();
  const opened = await openStorage(config, log);
  const { storage, durable, incarnation } = opened;
  // Unique per process start. Without DATA_DIR every start is a new life anyway (boot = incarnation,
  // as before); with one, a restart keeps the incarnation and only the boot tells the lives' starts apart.
  const boot = durable === undefined ? incarnation : newId();
  const transport = newTransport(config);
  const node = new ReplicaNode({
    config,
    incarnation,
    boot,
    ...(opened.restored === undefined ? {} : { restored: opened.restored }),
    clock: systemClock,
    timers: systemTimers,
    transport,
    storage,
    log,
  });
  // A broken invariant met in a request (src/core/assert.ts): the same end as one met in a timer.
  const onFatal: OnFatal = (error, where) => {
    log.fatal({ event: 'error', err: error, ...where }, 'invariant violated in a request: exiting');
    process.exit(70);
  };
  const app = createApp({ node, limits: config.limits, log, clusterToken: config.clusterToken, onFatal, ...(durable === undefined ? {} : { storage: durable }) });
  const server = listen(app, config, log, () => {
    log.info(
      {
        event: 'listening',
        listen: `${config.listenHost}:${config.listenPort}`,
        view: config.view,
        incarnation: node.core.incarnation,
        boot,
        storage: durable === undefined ? 'memory' : { dataDir: config.dataDir, fsync: config.fsync, incarnation: opened.incarnationSource },
      },
      'replica started',
    );
    node.start();
  });

  const shutdown = async (signal: string): Promise<void> => {
    log.info({ event: 'shutdown', signal }, 'stopping');
    node.stop();
    server.close();
    server.closeAllConnections();
    if (durable !== undefined) {
      // Whatever is queued is written (and, FSYNC=batch, synced) and the LOCK removed; bounded, so
      // a hung disk cannot keep the process past its orchestrator's grace period.
      let timer: NodeJS.Timeout | undefined;
      const closed = await Promise.race([
        durable.close().then(() => true),
        new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), closeBoundMs))),
      ]);
      clearTimeout(timer);
      if (!closed) log.warn({ event: 'storage-close-timeout', dir: config.dataDir, timeoutMs: closeBoundMs }, 'the durable log did not close in time: exiting anyway');
    }
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}

/**
 * A node of a sharded store (docs/API.md "Sharding"): its replica group is a ReplicaNode among its
 * shard's members, replaced by a new life when its shard changes (src/shard/sharded-node.ts).
 * Group lives keep their data in memory (DATA_DIR is not used by sharded nodes yet).
 */
function startSharded(config: Config, log: Logger, map: ShardMap, view: readonly Address[], quiesced: readonly QuiescedClocks[], client: ShardClient): void {
  if (config.dataDir !== undefined) log.warn({ event: 'storage-ignored', dir: config.dataDir }, 'a sharded node keeps its data in memory: DATA_DIR is not used');
  const sharded: ShardedNode = new ShardedNode({
    self: config.socketAddress,
    map,
    view,
    limits: config.limits,
    timers: systemTimers,
    clock: systemClock,
    log,
    // The node's own registry answers for reshards it coordinates; `sharded` exists by the time a freeze asks.
    askReshardRunning: reshardRunningAsker(config.socketAddress, () => sharded.coordinating, client),
    makeNode: (group, groupView) => {
      // The boot is the life's base id: boots are plain ids (no group tag), and every life is a new start.
      const boot = newId();
      return new ReplicaNode({
        config: { ...config, view: groupView },
        incarnation: group === undefined ? boot : `${boot}-${group}`,
        boot,
        clock: systemClock,
        timers: systemTimers,
        transport: newTransport(config),
        storage: new MemoryStorage(),
        log,
      });
    },
  });
  const onFatal: OnFatal = (error, where) => {
    log.fatal({ event: 'error', err: error, ...where }, 'invariant violated in a request: exiting');
    process.exit(70);
  };
  const forwardTimeoutMs = Math.max(config.peerRequestTimeoutMs, config.causalWaitMs + config.settings.writeAckTimeoutMs + 1000);
  const app = createApp({ host: sharded, sharding: { sharded, client, forwardTimeoutMs }, limits: config.limits, log, clusterToken: config.clusterToken, onFatal });
  for (const known of quiesced) sharded.noteQuiesced(known);
  sharded.onOwnChangeRemade = () => void spreadMap(sharded, client, log);
  const stopGossip = gossipMap(sharded, client, mapGossipIntervalMs);
  const stopFinishing = finishStalledReshards(sharded, client, config.limits, log);
  const stopHandingOff = handOffStrandedWrites(sharded, client, config.limits, log, systemClock);
  const server = listen(app, config, log, () => {
    log.info({ event: 'listening', listen: `${config.listenHost}:${config.listenPort}`, view: sharded.view(), epoch: map.epoch, shard: sharded.shard ?? null, incarnation: sharded.node.core.incarnation }, 'sharded node started');
    sharded.start();
    // Announces this node to the cluster (its map and view carry it): a node started without
    // SHARD_COUNT is then in every node's view, ready for add-member.
    void spreadMap(sharded, client, log);
  });
  const shutdown = (signal: string): void => {
    log.info({ event: 'shutdown', signal }, 'stopping');
    stopGossip();
    stopFinishing();
    stopHandingOff();
    sharded.stop();
    client.close();
    server.close();
    server.closeAllConnections();
    process.exit(0);
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

/** How often a sharded node sends its map to one other node at random (gossip: see src/shard/map-spread.ts). */
const mapGossipIntervalMs = 2000;

function newTransport(config: Config): HttpTransport {
  return new HttpTransport({
    limits: config.limits,
    sourceAddress: config.peerSourceAddress,
    connectTimeoutMs: config.peerConnectTimeoutMs,
    requestTimeoutMs: config.peerRequestTimeoutMs,
    probeTimeoutMs: config.probeTimeoutMs,
    clusterToken: config.clusterToken,
  });
}

/** Listens as configured, with the server's timeouts; a failure to listen ends the process. */
function listen(app: ReturnType<typeof createApp>, config: Config, log: Logger, onListening: () => void): Server {
  const server: Server = app.listen(config.listenPort, config.listenHost, onListening);
  answerClientErrorsWithJson(server);
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 30_000;
  server.on('error', (error) => {
    log.fatal({ event: 'error', err: error }, 'cannot listen');
    process.exit(1);
  });
  return server;
}

let config: Config;
try {
  config = readConfig(process.env);
} catch (error) {
  if (error instanceof ConfigError) exitWith(2, error.message);
  throw error;
}
start(config).catch((error: unknown) => {
  process.stderr.write(`causal-kvs: failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
