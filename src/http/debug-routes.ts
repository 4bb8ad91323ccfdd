import type Router from '@koa/router';
import { parseReplicaId, type ReplicaId } from '../../events/ids.ts';
import type { KvEvent } from '../../events/kv-event.ts';
import { ValidationError } from '../../events/validation-error.ts';
import { parseCausalMetadata } from '../../events/causal-metadata.ts';
import type { NodeHost } from '../node/node-host.ts';
import type { ShardedNode } from '../shard/sharded-node.ts';
import type { DurableLogDescription } from '../storage/durable-log.ts';

const logPageEventsMax = 10_000;

/**
 * Inspection: `GET /debug/log` (filter by origin, key, and `since`: a seq, or a clock as JSON such
 * as the causal metadata a client holds, to list only what it does not cover) and `GET /debug/state`
 * (its `storage`: `{"mode": "memory"}`, or with DATA_DIR `{"mode": "disk", ...}` the durable log's description).
 */
export function registerDebugRoutes(router: Router, host: NodeHost, clockEntriesMax: number, describeStorage?: () => DurableLogDescription, sharded?: ShardedNode): void {
  router.get('/debug/state', (ctx) => {
    const { rss, heapUsed, heapTotal } = process.memoryUsage();
    const storage = describeStorage === undefined ? { mode: 'memory' } : { mode: 'disk', ...describeStorage() };
    const sharding = sharded === undefined ? {} : { sharding: sharded.describe() };
    ctx.body = { ...host.node.describe(), memory: { rssBytes: rss, heapUsedBytes: heapUsed, heapTotalBytes: heapTotal }, storage, ...sharding };
  });

  // Only when the process runs with --expose-gc (the memory benchmark): lets "memory after GC"
  // be measured from outside.
  const collectGarbage = (globalThis as { gc?: () => void }).gc;
  if (collectGarbage !== undefined) {
    router.post('/debug/gc', (ctx) => {
      collectGarbage();
      const { rss, heapUsed } = process.memoryUsage();
      ctx.body = { rssBytes: rss, heapUsedBytes: heapUsed };
    });
  }

  router.get('/debug/log', (ctx) => {
    const { origin, key, since, limit } = ctx.query;
    const filter: { origin?: ReplicaId; key?: string } = {};
    if (typeof origin === 'string') filter.origin = parseReplicaId(origin);
    if (typeof key === 'string') filter.key = key;
    const sinceClock = typeof since === 'string' && since.startsWith('{') ? parseCausalMetadata(since, clockEntriesMax) : undefined;
    const sinceSeq = typeof since === 'string' && sinceClock === undefined ? Number(since) : 0;
    const max = typeof limit === 'string' ? Number(limit) : logPageEventsMax;
    if (!Number.isSafeInteger(sinceSeq) || sinceSeq < 0) throw new ValidationError('since must be an integer >= 0 (a seq)');
    if (!Number.isSafeInteger(max) || max < 1 || max > logPageEventsMax) throw new ValidationError(`limit must be 1..${logPageEventsMax}`);
    const events: KvEvent[] = [];
    let more = false;
    for (const event of host.node.readLog(filter)) {
      if (event.seq <= sinceSeq || event.seq <= (sinceClock?.[event.origin] ?? 0)) continue;
      if (events.length >= max) {
        more = true;
        break;
      }
      events.push(event);
    }
    const state = host.node.describe();
    ctx.body = {
      clock: state.clock,
      stableFrontier: state.stableFrontier,
      logLength: state.logLength,
      snapshotKeys: state.liveKeys + state.tombstones,
      peers: state.peers.map((peer) => ({ address: peer.address, knownDelivered: peer.knownDelivered })),
      events,
      more,
    };
  });
}
