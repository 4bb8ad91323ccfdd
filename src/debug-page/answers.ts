import type { Address, ReplicaId } from '../../events/ids.ts';
import type { KvEvent } from '../../events/kv-event.ts';
import type { ReplicaDescription } from '../core/replica.ts';
import type { AgedRecord } from '../observability/recent-record.ts';
import type { ShardingDescription } from '../shard/sharded-node.ts';

// What the page reads, as the server's own types describe it (src/http/debug-routes.ts, debug-page.ts).

/** `GET /debug/state` (it also carries memory figures, which the page does not show); `sharding` on a node of a sharded store. */
export type StateAnswer = ReplicaDescription & { readonly sharding?: ShardingDescription };

/** `GET /debug/recent?after=N`: the records numbered after N, and the cursor for the next call. */
export interface RecentAnswer {
  readonly address: Address;
  readonly id: ReplicaId;
  readonly records: readonly AgedRecord[];
  readonly next: number;
}

/** `GET /debug/log?origin=&since=&limit=`: the page reads only the events. */
export interface LogAnswer {
  readonly events: readonly KvEvent[];
}
