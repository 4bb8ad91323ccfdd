import type Router from '@koa/router';
import type Koa from 'koa';
import { NodeMetrics } from '../observability/metrics.ts';
import { RecentEvents } from '../observability/recent-events.ts';
import type { NodeHost } from '../node/node-host.ts';
import type { DurableLogDescription } from '../storage/durable-log.ts';
import { debugCors, registerDebugPage } from './debug-page.ts';
import { metricsMiddleware, registerMetricsRoute } from './metrics-route.ts';

/**
 * Metrics (`GET /metrics`, request counting and timing), the debug page (`GET /debug`,
 * `GET /debug/recent`) and CORS for what that page reads on other replicas. Call it before the
 * error middleware is mounted, so the request metrics see final statuses; with DATA_DIR,
 * `describeStorage` adds the durable log's metrics; routes are looked up per
 * request, so they may be added to the router before or after it is mounted.
 */
export function installObservability(app: Koa, router: Router, host: NodeHost, describeStorage?: () => DurableLogDescription): NodeMetrics {
  const metrics = new NodeMetrics(host, describeStorage);
  const recent = new RecentEvents(() => host.node.core.clock);
  host.node.onLocalWrite = (event) => {
    metrics.localWrite(event);
    recent.localWrite(event);
  };
  host.node.onRemoteDelivery = () => recent.remoteDelivery();
  host.node.onPushOutcome = (to, outcome, roundTripMs) => metrics.pushOutcome(to, outcome, roundTripMs);
  app.use(metricsMiddleware(metrics));
  app.use(debugCors);
  registerMetricsRoute(router, metrics);
  registerDebugPage(router, host, recent);
  return metrics;
}
