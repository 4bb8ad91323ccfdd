// One replica's HTTP app in the test process (createApp on a real ReplicaNode whose view is itself
// alone, so it never contacts anyone), listening on 127.0.0.1 on a port the OS picks; and raw
// requests against it that show the exact status and body bytes.
import type Router from '@koa/router';
import type Koa from 'koa';
import { request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { createApp } from '../../src/http/app.ts';
import { readConfig } from '../../src/config.ts';
import type { Logger } from '../../src/node/logger.ts';
import { ReplicaNode } from '../../src/node/replica-node.ts';
import { MemoryStorage } from '../../src/storage/memory-storage.ts';
import { systemClock, systemTimers } from '../../src/system.ts';
import { HttpTransport } from '../../src/transport/http-transport.ts';

export interface InProcessApp {
  readonly app: Koa;
  readonly node: ReplicaNode;
  readonly port: number;
  /** The JSON lines logged so far. */
  readonly logLines: Record<string, unknown>[];
  /** Every error given to onFatal. */
  readonly fatal: unknown[];
  close(): Promise<void>;
}

export interface InProcessOptions {
  /** Extra environment for readConfig (CLUSTER_TOKEN, CAUSAL_WAIT_MS, VIEW_MEMBERS_MAX, ...). */
  readonly env?: Record<string, string>;
}

/** Starts the app; the caller must close() it. */
export async function startInProcessApp(options: InProcessOptions = {}): Promise<InProcessApp> {
  const self = '127.0.0.1:1';
  const config = readConfig({ SOCKET_ADDRESS: self, VIEW: self, LOG_LEVEL: 'info', WRITE_ACK_TIMEOUT_MS: '0', ...options.env });
  const logLines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line !== '') logLines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const log: Logger = pino({ level: 'info' }, sink);
  const transport = new HttpTransport({
    limits: config.limits,
    sourceAddress: '127.0.0.1',
    connectTimeoutMs: 100,
    requestTimeoutMs: 100,
    probeTimeoutMs: 100,
    clusterToken: config.clusterToken,
  });
  const node = new ReplicaNode({ config, incarnation: 'inproc1', boot: 'inproc1', clock: systemClock, timers: systemTimers, transport, storage: new MemoryStorage(), log });
  const fatal: unknown[] = [];
  const app = createApp({ node, limits: config.limits, log, clusterToken: config.clusterToken, onFatal: (error) => fatal.push(error) });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  node.start();
  const { port } = server.address() as AddressInfo;
  return {
    app,
    node,
    port,
    logLines,
    fatal,
    close: () => {
      node.stop();
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** The routers createApp mounted (router.routes() carries its router), so tests can list their routes. */
export function routersOf(app: Koa): Router[] {
  return app.middleware.flatMap((middleware) => {
    const router = (middleware as { router?: Router }).router;
    return router === undefined ? [] : [router];
  });
}

export interface RawAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** The body exactly as sent. */
  readonly text: string;
}

export interface RawRequest {
  readonly method: string;
  readonly path: string;
  readonly headers?: Record<string, string | number>;
  readonly body?: string | Buffer;
  readonly timeoutMs?: number;
}

/**
 * One request on its own connection. Resolves with the answer; rejects when the connection ends
 * without one (reset, closed) or after `timeoutMs` (2 s unless told).
 */
export function rawRequest(port: number, { method, path, headers = {}, body, timeoutMs = 2000 }: RawRequest): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const length = body === undefined ? {} : { 'content-length': Buffer.byteLength(body) };
    const request = httpRequest({ host: '127.0.0.1', port, method, path, headers: { ...length, ...headers }, agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, text: Buffer.concat(chunks).toString() }));
      response.on('error', reject);
    });
    request.setTimeout(timeoutMs, () => request.destroy(new Error(`no answer to ${method} ${path} within ${timeoutMs} ms`)));
    request.on('error', reject);
    request.end(body);
  });
}
