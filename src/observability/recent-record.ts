import type { ReplicaId } from '../../events/ids.ts';
import type { KvEvent } from '../../events/kv-event.ts';

// Kept apart from recent-events.ts, which imports node:perf_hooks, so that the debug page (browser
// code, type-checked without Node's types) can name what `GET /debug/recent` answers.

/** One thing the debug page draws from: an own write, or a seq range delivered from another origin. */
export type RecentRecord =
  | { readonly n: number; readonly at: number; readonly kind: 'write'; readonly event: KvEvent }
  | { readonly n: number; readonly at: number; readonly kind: 'deliver'; readonly origin: ReplicaId; readonly fromSeq: number; readonly toSeq: number };

/** A record as served: its age instead of this process's clock reading. */
export type AgedRecord = Aged<RecentRecord>;
type Aged<R> = R extends RecentRecord ? Omit<R, 'at'> & { readonly agoMs: number } : never;
