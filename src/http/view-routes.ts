import type Router from '@koa/router';
import type { Middleware } from 'koa';
import type { Limits } from '../../events/limits.ts';
import { peerRpcs } from '../../events/peer-rpc.ts';
import type { NodeHost } from '../node/node-host.ts';
import { bodyObject } from './body.ts';

/**
 * `/view`: exactly the statuses and bodies of docs/API.md; replicas add a `kvs-peer` field to say
 * who they are (the view-add and view-delete rpcs of events/peer-rpc.ts). Changing the view needs
 * the cluster token (`clusterOnly`); reading it does not.
 */
export function registerViewRoutes(router: Router, host: NodeHost, limits: Limits, clusterOnly: Middleware): void {
  router.get('/view', (ctx) => {
    ctx.body = { view: host.node.core.view() };
  });

  router.put('/view', clusterOnly, (ctx) => {
    const request = peerRpcs['view-add'].parseRequest({ query: ctx.query, body: bodyObject(ctx) }, limits);
    const { result } = host.node.handle({ rpc: 'view-add', request });
    ctx.status = result === 'added' ? 201 : 200;
    ctx.body = { result };
  });

  router.delete('/view', clusterOnly, (ctx) => {
    const request = peerRpcs['view-delete'].parseRequest({ query: ctx.query, body: bodyObject(ctx) }, limits);
    const { result } = host.node.handle({ rpc: 'view-delete', request });
    if (result === 'absent') {
      ctx.status = 404;
      ctx.body = { error: 'View has no such replica' };
      return;
    }
    ctx.status = 200;
    ctx.body = { result: 'deleted' };
  });
}
