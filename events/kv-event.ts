import type { ReplicaId } from './ids.ts';
import type { JsonValue } from './json-value.ts';
import type { VectorClock } from './vector-clock.ts';

/**
 * One client write, immutable once made. `clock` is the creating replica's delivered clock at that
 * moment with its own entry incremented, so `clock[origin] === seq` always, and every event
 * included in `clock` happened before this one.
 */
interface EventBase {
  readonly origin: ReplicaId;
  readonly seq: number;
  readonly key: string;
  readonly clock: VectorClock;
  /**
   * Its place in the conflict order, when that is not the sum of `clock` (src/core/conflict-order.ts):
   * set only on events made after clock entries were retired.
   */
  readonly lamport?: number;
  /**
   * Sharded store only: the entries of other shards' groups in the writer's metadata (events/ids.ts
   * `groupOf`). Never checked here (another group's events are not ours to wait for) but handed on
   * with the value, so a client that reads it also depends on what its writer had seen elsewhere:
   * causality across shards. Absent when empty.
   */
  readonly foreign?: VectorClock;
}

export interface PutEvent extends EventBase {
  readonly type: 'put';
  readonly value: JsonValue;
}

/** A delete is a tombstone: it takes part in the same conflict order as puts. */
export interface DeleteEvent extends EventBase {
  readonly type: 'delete';
}

export type KvEvent = PutEvent | DeleteEvent;

/** `origin#seq`; the debug page keys the events it knows only by number (a delivered seq range) the same way. */
export function eventId(event: Pick<KvEvent, 'origin' | 'seq'>): string {
  return `${event.origin}#${event.seq}`;
}
