import type Router from '@koa/router';
import type { Limits } from '../../events/limits.ts';
import { parsePushRequest, parseSnapshotChunk } from '../../events/peer-messages.ts';
import { ValidationError } from '../../events/validation-error.ts';
import type { ReplicaNode } from '../node/replica-node.ts';
import { pushStreamPath } from '../transport/push-stream.ts';
import { requestBody } from './body.ts';
import { servePushStream } from './push-stream-route.ts';

/** Replica-to-replica traffic (`/internal/...`) and `GET /health`. */
export function registerPeerRoutes(router: Router, node: ReplicaNode, limits: Limits, authorize: (header: string) => void): void {
  router.get('/health', (ctx) => {
    ctx.body = node.core.healthReply();
  });

  router.post('/internal/events', (ctx) => {
    authorize(ctx.get('x-cluster-token'));
    ctx.body = node.receivePush(parsePushRequest(requestBody(ctx), limits));
  });

  // The same pushes, many on one exchange (its body is read line by line, not by the body parser).
  router.post(pushStreamPath, (ctx) => {
    authorize(ctx.get('x-cluster-token'));
    return servePushStream(ctx, limits, (request) => node.receivePush(request));
  });

  router.post('/internal/snapshot', (ctx) => {
    authorize(ctx.get('x-cluster-token'));
    ctx.body = node.receiveSnapshotChunk(parseSnapshotChunk(requestBody(ctx), limits));
  });

  router.get('/internal/snapshot', (ctx) => {
    authorize(ctx.get('x-cluster-token'));
    const id = typeof ctx.query.id === 'string' ? ctx.query.id : undefined;
    const index = id === undefined ? 0 : Number(ctx.query.index);
    if (!Number.isSafeInteger(index) || index < 0) throw new ValidationError('index must be an integer >= 0');
    ctx.body = node.serveSnapshotChunk(id, index);
  });
}
