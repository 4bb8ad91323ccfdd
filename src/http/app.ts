import Router from '@koa/router';
import Koa from 'koa';
import type { Limits } from '../../events/limits.ts';
import type { Logger } from '../node/logger.ts';
import { fixedHost, type NodeHost } from '../node/node-host.ts';
import type { ReplicaNode } from '../node/replica-node.ts';
import type { ShardClient } from '../shard/shard-client.ts';
import { ForwardLinks } from '../shard/forward-links.ts';
import { registerShardRoutes } from '../shard/shard-routes.ts';
import { ShardedKvs } from '../shard/sharded-kvs.ts';
import type { ShardedNode } from '../shard/sharded-node.ts';
import type { DurableLogDescription } from '../storage/durable-log.ts';
import { jsonBody } from './body.ts';
import { requireClusterToken } from './cluster-token.ts';
import { registerDebugRoutes } from './debug-routes.ts';
import { errorMiddleware, type OnFatal } from './errors.ts';
import { kvsRoutes } from './kvs-routes.ts';
import { installObservability } from './observability.ts';
import { internalPrefix, registerPeerRoutes } from './peer-routes.ts';
import { registerViewRoutes } from './view-routes.ts';

export interface AppOptions {
  /** The node to serve (unsharded), or `host`: where to find it on each request. */
  readonly node?: ReplicaNode;
  readonly host?: NodeHost;
  /** A sharded node (src/shard/): its /kvs forwarding, /view of the cluster, /shard and /internal/shard routes. */
  readonly sharding?: { readonly sharded: ShardedNode; readonly client: ShardClient; readonly forwardTimeoutMs: number };
  readonly limits: Limits;
  readonly log: Logger;
  readonly clusterToken: string | undefined;
  /** Given a broken invariant met while serving a request; src/main.ts logs it and exits. */
  readonly onFatal: OnFatal;
  /** The durable log, with DATA_DIR: shown in /debug/state's `storage` and as kvs_storage_* metrics. Without: `{"mode": "memory"}`. */
  readonly storage?: { describe(): DurableLogDescription };
}

/** Errors of a connection the client closed or reset. */
const clientGoneCodes = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE', 'ERR_STREAM_DESTROYED']);

/** Builds the HTTP app without listening, so tests can drive it in-process. */
export function createApp({ node, host: givenHost, sharding, limits, log, clusterToken, onFatal, storage }: AppOptions): Koa {
  const host = givenHost ?? fixedHost(node!);
  const app = new Koa();
  // What Koa meets after the middleware, writing an answer, goes to the log, not to Koa's default
  // handler, which prints bare stack traces on stderr: mostly a client that hung up first (a reset
  // connection, common when load generators and proxies close theirs), which is not this replica's error.
  app.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== undefined && clientGoneCodes.has(error.code)) log.debug({ event: 'client-gone', code: error.code }, 'the client closed the connection before its answer was written');
    else log.error({ event: 'error', err: error }, 'error while answering');
  });
  const router = new Router();
  const clusterOnly = requireClusterToken(clusterToken);
  const clientBody = jsonBody(limits.bodyBytesMax);

  const describeStorage = storage === undefined ? undefined : () => storage.describe();
  const metrics = installObservability(app, router, host, describeStorage);
  app.use(errorMiddleware(log, onFatal));
  const kvs =
    sharding === undefined
      ? undefined
      : new ShardedKvs({
          sharded: sharding.sharded,
          limits,
          links: new ForwardLinks({ client: sharding.client, answerTimeoutMs: sharding.forwardTimeoutMs, lineBytesMax: limits.peerBodyBytesMax }),
          onForwarded: (ok, seconds) => metrics.forwarded(ok, seconds),
        });
  if (kvs !== undefined) app.use(kvs.refusalsNameTheirShard());
  // Peer bodies are read by the /internal routes themselves, after the cluster token is checked.
  app.use((ctx, next) => (ctx.path.startsWith(`${internalPrefix}/`) ? next() : clientBody(ctx, next)));
  if (sharding === undefined || kvs === undefined) {
    registerViewRoutes(router, host, limits, clusterOnly);
  } else {
    app.use(kvs.middleware());
    registerShardRoutes(router, { ...sharding, limits, log, clusterOnly, kvs, onFatal });
  }
  app.use(kvsRoutes(router, host, limits));
  registerPeerRoutes(router, host, limits, clusterOnly, onFatal);
  registerDebugRoutes(router, host, limits.clockEntriesMax, describeStorage, sharding?.sharded);
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}
