import Router from '@koa/router';
import type { Middleware } from 'koa';
import type { Limits } from '../../events/limits.ts';
import type { PushReply } from '../../events/peer-messages.ts';
import { peerRpcs, type PeerMessage, type RpcName } from '../../events/peer-rpc.ts';
import type { NodeHost } from '../node/node-host.ts';
import { pushStreamPath } from '../transport/push-stream.ts';
import { jsonBody, requestBody } from './body.ts';
import type { OnFatal } from './errors.ts';
import { servePushStream } from './push-stream-route.ts';

export const internalPrefix = '/internal';

/** `path` (under /internal) as a route of the /internal router. */
function underInternal(path: string): string {
  if (!path.startsWith(`${internalPrefix}/`)) throw new Error(`${path} is not under ${internalPrefix}/`);
  return path.slice(internalPrefix.length);
}

/**
 * Replica-to-replica traffic: one route per rpc of the table in events/peer-rpc.ts (the table the
 * sending side and the simulated network read too), and the push stream. Every `/internal` route
 * is on one router whose first middleware is `clusterOnly` (the cluster token): it runs before
 * anything else of the route, the body included, so an unauthenticated peer body is never parsed.
 * The router is case-sensitive, like the prefix match that runs its middleware, so that no
 * spelling of a path (`/INTERNAL/events`) reaches a route without passing the guard.
 */
export function registerPeerRoutes(router: Router, host: NodeHost, limits: Limits, clusterOnly: Middleware, onFatal: OnFatal): void {
  const internal = new Router({ prefix: internalPrefix, sensitive: true });
  internal.use(clusterOnly);
  const body = jsonBody(limits.peerBodyBytesMax);

  for (const name of Object.keys(peerRpcs) as RpcName[]) {
    const rpc = peerRpcs[name];
    if (rpc.route !== 'from-table') continue;
    const serve: Middleware = async (ctx) => {
      const request = rpc.parseRequest({ query: ctx.query, body: requestBody(ctx) }, limits);
      const message = { rpc: name, request } as PeerMessage;
      // A push may be answered late (once storage holds what it delivered): see ReplicaNode.receive.
      ctx.body = message.rpc === 'push' ? await new Promise<PushReply>((resolve) => host.node.receive(message.request, resolve)) : host.node.handle(message);
    };
    if (rpc.path.startsWith(`${internalPrefix}/`)) {
      if (!rpc.guarded) throw new Error(`${rpc.path}: every ${internalPrefix} route needs the cluster token`);
      internal.register(underInternal(rpc.path), [rpc.method], rpc.method === 'GET' ? [serve] : [body, serve]);
    } else {
      if (rpc.guarded) throw new Error(`${rpc.path}: a guarded rpc must live under ${internalPrefix}`);
      router.register(rpc.path, [rpc.method], serve);
    }
  }

  // The same pushes, many on one exchange (its body is read line by line, not by the body parser).
  internal.post(underInternal(pushStreamPath), (ctx) => servePushStream(ctx, limits, (request, answer) => host.node.receive(request, answer), onFatal));

  router.use(internal.routes());
}
