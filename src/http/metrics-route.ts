import type Router from '@koa/router';
import type { Context, Next } from 'koa';
import type { NodeMetrics } from '../observability/metrics.ts';
import { forwardStreamPath } from '../../events/forward-frames.ts';
import { pushStreamPath } from '../transport/push-stream.ts';

/** Paths served as they are; anything else is `/kvs/:key` or `unmatched`, so no label per key or per scanned URL. */
const fixedRoutes = new Set([
  '/view',
  '/health',
  '/metrics',
  '/debug',
  '/debug/state',
  '/debug/log',
  '/debug/recent',
  '/internal/events',
  pushStreamPath, // one request per stream: its duration is the stream's life, not a push's round trip
  '/internal/snapshot',
  forwardStreamPath, // the same: a stream of forwarded client requests
]);

export function routeLabel(path: string): string {
  if (path.startsWith('/kvs/')) return '/kvs/:key';
  return fixedRoutes.has(path) ? path : 'unmatched';
}

/**
 * Counts and times every request. Mounted outside the error middleware, so it sees the status
 * that was actually sent (a 503 or 400 made from a thrown error included).
 */
export function metricsMiddleware(metrics: NodeMetrics) {
  return async function measure(ctx: Context, next: Next): Promise<void> {
    const started = process.hrtime.bigint();
    try {
      await next();
    } finally {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      metrics.observeRequest(ctx.method, routeLabel(ctx.path), ctx.status, seconds);
    }
  };
}

/** `GET /metrics`: Prometheus text exposition format. */
export function registerMetricsRoute(router: Router, metrics: NodeMetrics): void {
  router.get('/metrics', async (ctx) => {
    ctx.type = metrics.registry.contentType;
    ctx.body = await metrics.registry.metrics();
  });
}
