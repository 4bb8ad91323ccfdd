import type Router from '@koa/router';
import type { Limits } from '../../events/limits.ts';
import { peerRpcs, type PeerMessage, type RpcName } from '../../events/peer-rpc.ts';
import type { ReplicaNode } from '../node/replica-node.ts';
import { pushStreamPath } from '../transport/push-stream.ts';
import { requestBody } from './body.ts';
import { servePushStream } from './push-stream-route.ts';

/**
 * Replica-to-replica traffic (`/internal/...`) and `GET /health`, one route per rpc of the table in
 * events/peer-rpc.ts: the same table the sending side and the simulated network read.
 */
export function registerPeerRoutes(router: Router, node: ReplicaNode, limits: Limits, authorize: (header: string) => void): void {
  for (const name of Object.keys(peerRpcs) as RpcName[]) {
    const rpc = peerRpcs[name];
    if (rpc.route !== 'from-table') continue;
    router.register(rpc.path, [rpc.method], (ctx) => {
      if (rpc.guarded) authorize(ctx.get('x-cluster-token'));
      const request = rpc.parseRequest({ query: ctx.query, body: requestBody(ctx) }, limits);
      ctx.body = node.handle({ rpc: name, request } as PeerMessage);
    });
  }

  // The same pushes, many on one exchange (its body is read line by line, not by the body parser).
  router.post(pushStreamPath, (ctx) => {
    authorize(ctx.get('x-cluster-token'));
    return servePushStream(ctx, limits, (request) => node.handle({ rpc: 'push', request }));
  });
}
