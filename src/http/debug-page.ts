import type Router from '@koa/router';
import type { Context, Next } from 'koa';
import { ValidationError } from '../../events/validation-error.ts';
import type { RecentEvents } from '../observability/recent-events.ts';
import type { NodeHost } from '../node/node-host.ts';
import { debugPageHtml } from './debug-page-html.ts';

const recentRecordsPageMax = 1000;

/**
 * The debug page in a browser reads `/debug/*` and `/view` of every replica in the view, from
 * another origin than the one that served it: let it. Only these read-only GETs; `/kvs` and the
 * peer endpoints get no CORS header.
 */
export function debugCors(ctx: Context, next: Next): Promise<void> {
  if (ctx.method === 'GET' && (ctx.path === '/view' || ctx.path.startsWith('/debug/'))) ctx.set('Access-Control-Allow-Origin', '*');
  return next();
}

/** `GET /debug` (the page) and `GET /debug/recent` (the records its space-time diagram is drawn from). */
export function registerDebugPage(router: Router, host: NodeHost, recent: RecentEvents): void {
  router.get('/debug', (ctx) => {
    ctx.type = 'text/html; charset=utf-8';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = debugPageHtml;
  });

  router.get('/debug/recent', (ctx) => {
    const after = typeof ctx.query.after === 'string' ? Number(ctx.query.after) : 0;
    const limit = typeof ctx.query.limit === 'string' ? Number(ctx.query.limit) : recentRecordsPageMax;
    if (!Number.isSafeInteger(after) || after < 0) throw new ValidationError('after must be an integer >= 0 (a record number)');
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > recentRecordsPageMax) throw new ValidationError(`limit must be 1..${recentRecordsPageMax}`);
    ctx.body = { address: host.node.core.self, id: host.node.core.id, ...recent.page(after, limit) };
  });
}
