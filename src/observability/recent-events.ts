import { performance } from 'node:perf_hooks';
import type { ReplicaId } from '../../events/ids.ts';
import type { KvEvent } from '../../events/kv-event.ts';
import type { VectorClock } from '../../events/vector-clock.ts';
import { BoundedQueue } from './bounded-queue.ts';
import type { AgedRecord, RecentRecord } from './recent-record.ts';

/** Records kept for the debug page; the oldest go first. */
const recordsMax = 2000;

/**
 * What the debug page draws its space-time diagram from: this replica's own writes (with their
 * keys, which the compacted operation log soon forgets) and the seq ranges it delivered from each
 * other origin, each stamped with this process's monotonic clock. They are served with their age
 * (`agoMs`), not a time of day, so the browser places them on its own time line without assuming
 * that any two machines' clocks agree.
 */
export class RecentEvents {
  private readonly records = new BoundedQueue<RecentRecord>(recordsMax);
  private nextN = 1;
  /** The delivered clock as of the last record, kept in place (a copy per write cost more than the record). */
  private readonly recorded = new Map<ReplicaId, number>();

  constructor(
    private readonly clock: () => VectorClock,
    private readonly now: () => number = () => performance.now(),
  ) {
    const initial = clock();
    for (const id in initial) this.recorded.set(id as ReplicaId, initial[id as ReplicaId]!);
  }

  /** Hook: an own write was just made (and delivered here). */
  localWrite(event: KvEvent): void {
    this.records.push({ kind: 'write', event, n: this.nextN++, at: this.now() });
    this.recorded.set(event.origin, event.seq);
  }

  /**
   * Hook: events from peers were just delivered. Whatever the delivered clock gained since the last
   * call was delivered by now: the events of this push, and those it released from the pending
   * buffer. A snapshot installed in between (join, or far behind) is recorded here too, later than
   * it happened: a record's time is always a moment by which the events were delivered.
   */
  remoteDelivery(): void {
    const clock = this.clock();
    for (const id in clock) {
      const origin = id as ReplicaId;
      const was = this.recorded.get(origin) ?? 0;
      const is = clock[origin]!;
      if (is <= was) continue;
      this.records.push({ kind: 'deliver', origin, fromSeq: was + 1, toSeq: is, n: this.nextN++, at: this.now() });
      this.recorded.set(origin, is);
    }
  }

  /** Records numbered after `after`, at most `limit`, each with its age in ms; `next` is the cursor to pass next time. */
  page(after: number, limit: number): { records: AgedRecord[]; next: number } {
    const now = this.now();
    const records: AgedRecord[] = [];
    for (const { at, ...record } of this.records) {
      if (records.length >= limit) break;
      if (record.n > after) records.push({ ...record, agoMs: Math.max(0, Math.round(now - at)) } as AgedRecord);
    }
    return { records, next: records.length > 0 ? records[records.length - 1]!.n : Math.min(after, this.nextN - 1) };
  }
}
