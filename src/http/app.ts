import Router from '@koa/router';
import Koa from 'koa';
import type { Limits } from '../../events/limits.ts';
import type { Logger } from '../node/logger.ts';
import type { ReplicaNode } from '../node/replica-node.ts';
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
  readonly node: ReplicaNode;
  readonly limits: Limits;
  readonly log: Logger;
  readonly clusterToken: string | undefined;
  /** Given a broken invariant met while serving a request; src/main.ts logs it and exits. */
  readonly onFatal: OnFatal;
  /** The durable log, with DATA_DIR: shown in /debug/state's `storage` and as kvs_storage_* metrics. Without: `{"mode": "memory"}`. */
  readonly storage?: { describe(): DurableLogDescription };
}

/** Builds the HTTP app without listening, so tests can drive it in-process. */
export function createApp({ node, limits, log, clusterToken, onFatal, storage }: AppOptions): Koa {
  const app = new Koa();
  const router = new Router();
  const clusterOnly = requireClusterToken(clusterToken);
  const clientBody = jsonBody(limits.bodyBytesMax);

  const describeStorage = storage === undefined ? undefined : () => storage.describe();
  installObservability(app, router, node, describeStorage);
  app.use(errorMiddleware(log, onFatal));
  // Peer bodies are read by the /internal routes themselves, after the cluster token is checked.
  app.use((ctx, next) => (ctx.path.startsWith(`${internalPrefix}/`) ? next() : clientBody(ctx, next)));
  app.use(kvsRoutes(router, node, limits));
  registerViewRoutes(router, node, limits, clusterOnly);
  registerPeerRoutes(router, node, limits, clusterOnly, onFatal);
  registerDebugRoutes(router, node, limits.clockEntriesMax, describeStorage);
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}
