import type Router from '@koa/router';
import type { Middleware } from 'koa';
import { parseAddress } from '../../events/ids.ts';
import type { Limits } from '../../events/limits.ts';
import { parseViewChangeOrigin, viewChangeOriginField } from '../../events/peer-messages.ts';
import type { ReplicaNode } from '../node/replica-node.ts';
import { bodyObject } from './body.ts';

/**
 * `/view`: exactly the statuses and bodies of SPEC.md; replicas add a `kvs-peer` field to say who
 * they are. Changing the view needs the cluster token (`clusterOnly`); reading it does not.
 */
export function registerViewRoutes(router: Router, node: ReplicaNode, limits: Limits, clusterOnly: Middleware): void {
  router.get('/view', (ctx) => {
    ctx.body = { view: node.core.view() };
  });

  router.put('/view', clusterOnly, (ctx) => {
    const body = bodyObject(ctx);
    const address = parseAddress(body['socket-address']);
    const result = node.addToView(address, parseViewChangeOrigin(body[viewChangeOriginField], limits));
    ctx.status = result === 'added' ? 201 : 200;
    ctx.body = { result };
  });

  router.delete('/view', clusterOnly, (ctx) => {
    const body = bodyObject(ctx);
    const address = parseAddress(body['socket-address']);
    const result = node.removeFromView(address, parseViewChangeOrigin(body[viewChangeOriginField], limits));
    if (result === 'absent') {
      ctx.status = 404;
      ctx.body = { error: 'View has no such replica' };
      return;
    }
    ctx.status = 200;
    ctx.body = { result: 'deleted' };
  });
}
