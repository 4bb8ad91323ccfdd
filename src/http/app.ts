import Router from '@koa/router';
import Koa from 'koa';
import type { Limits } from '../../events/limits.ts';
import { ValidationError } from '../../events/validation-error.ts';
import type { Logger } from '../node/logger.ts';
import type { ReplicaNode } from '../node/replica-node.ts';
import { jsonBody } from './body.ts';
import { registerDebugRoutes } from './debug-routes.ts';
import { errorMiddleware } from './errors.ts';
import { kvsRoutes } from './kvs-routes.ts';
import { installObservability } from './observability.ts';
import { registerPeerRoutes } from './peer-routes.ts';
import { pushStreamPath } from '../transport/push-stream.ts';
import { registerViewRoutes } from './view-routes.ts';

export interface AppOptions {
  readonly node: ReplicaNode;
  readonly limits: Limits;
  readonly log: Logger;
  readonly clusterToken: string | undefined;
}

/** Builds the HTTP app without listening, so tests can drive it in-process. */
export function createApp({ node, limits, log, clusterToken }: AppOptions): Koa {
  const app = new Koa();
  const router = new Router();
  const authorize = (presented: string): void => {
    if (clusterToken !== undefined && presented !== clusterToken) throw new ValidationError('This endpoint needs the cluster token', 403);
  };
  const clientBody = jsonBody(limits.bodyBytesMax);
  const peerBody = jsonBody(limits.peerBodyBytesMax);

  installObservability(app, router, node);
  app.use(errorMiddleware(log));
  app.use((ctx, next) => {
    if (ctx.path === pushStreamPath) return next();
    return ctx.path.startsWith('/internal/') ? peerBody(ctx, next) : clientBody(ctx, next);
  });
  app.use(kvsRoutes(router, node, limits));
  registerViewRoutes(router, node, limits, authorize);
  registerPeerRoutes(router, node, limits, authorize);
  registerDebugRoutes(router, node, limits.clockEntriesMax);
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}
