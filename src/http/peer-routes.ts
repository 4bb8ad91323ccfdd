import Router from '@koa/router';
import type { Middleware } from 'koa';
import type { Limits } from '../../events/limits.ts';
import { parsePushRequest, parseSnapshotChunk } from '../../events/peer-messages.ts';
import { ValidationError } from '../../events/validation-error.ts';
import type { ReplicaNode } from '../node/replica-node.ts';
import { pushStreamPath } from '../transport/push-stream.ts';
import { jsonBody } from './body.ts';
import type { OnFatal } from './errors.ts';
import { servePushStream } from './push-stream-route.ts';

export const internalPrefix = '/internal';

/** `path` (under /internal) as a route of the /internal router. */
function underInternal(path: string): string {
  if (!path.startsWith(`${internalPrefix}/`)) throw new Error(`${path} is not under ${internalPrefix}/`);
  return path.slice(internalPrefix.length);
}

/**
 * Replica-to-replica traffic (`/internal/...`) and `GET /health`. Every `/internal` route is on one
 * router whose first middleware is `clusterOnly` (the cluster token): it runs before anything else
 * of the route, the body included, so an unauthenticated peer body is never parsed. The router is
 * case-sensitive, like the prefix match that runs its middleware, so that no spelling of a path
 * (`/INTERNAL/events`) reaches a route without passing the guard.
 */
export function registerPeerRoutes(router: Router, node: ReplicaNode, limits: Limits, clusterOnly: Middleware, onFatal: OnFatal): void {
  router.get('/health', (ctx) => {
    ctx.body = node.core.healthReply();
  });

  const internal = new Router({ prefix: internalPrefix, sensitive: true });
  internal.use(clusterOnly);
  const body = jsonBody(limits.peerBodyBytesMax);

  internal.post('/events', body, (ctx) => {
    ctx.body = node.receivePush(parsePushRequest(ctx.request.body, limits));
  });

  // The same pushes, many on one exchange (its body is read line by line, not by the body parser).
  internal.post(underInternal(pushStreamPath), (ctx) => servePushStream(ctx, limits, (request) => node.receivePush(request), onFatal));

  internal.post('/snapshot', body, (ctx) => {
    ctx.body = node.receiveSnapshotChunk(parseSnapshotChunk(ctx.request.body, limits));
  });

  internal.get('/snapshot', (ctx) => {
    const id = typeof ctx.query.id === 'string' ? ctx.query.id : undefined;
    const index = id === undefined ? 0 : Number(ctx.query.index);
    if (!Number.isSafeInteger(index) || index < 0) throw new ValidationError('index must be an integer >= 0');
    ctx.body = node.serveSnapshotChunk(id, index);
  });

  router.use(internal.routes());
}
