import { createHash, timingSafeEqual } from 'node:crypto';
import type { Middleware } from 'koa';
import { ExpectedError } from '../../events/expected-error.ts';

/** The header peers send it in (src/transport/peer-client.ts sends it). */
const clusterTokenHeader = 'x-cluster-token';

/** A replica-to-replica request without the cluster token, or with a wrong one. */
export class ClusterTokenRefused extends ExpectedError {
  constructor() {
    super('This endpoint needs the cluster token', 403);
    this.name = 'ClusterTokenRefused';
  }
}

/** SHA-256 of the text: equal-length buffers whatever the lengths presented, so timingSafeEqual applies and no length leaks. */
function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * The guard of replica-to-replica endpoints (the `/internal` router, PUT and DELETE /view): lets a
 * request through only when its x-cluster-token header is the cluster token (CLUSTER_TOKEN),
 * compared in constant time; otherwise 403. Without a cluster token configured, everything passes.
 */
export function requireClusterToken(clusterToken: string | undefined): Middleware {
  if (clusterToken === undefined) return (_ctx, next) => next();
  const expected = digest(clusterToken);
  return (ctx, next) => {
    if (!timingSafeEqual(digest(ctx.get(clusterTokenHeader)), expected)) throw new ClusterTokenRefused();
    return next();
  };
}
