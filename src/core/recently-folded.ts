import type { KvEvent } from '../../events/kv-event.ts';
import type { ReplicaId } from '../../events/ids.ts';
import { Fifo } from './fifo.ts';

/** How long a folded event stays readable. */
const retainMs = 5000;
/** How long after the last read of the log folded events are still kept for the next one. */
const readerIdleMs = 60_000;
/** Bounds on what is kept, whatever the write rate and value sizes. */
const eventsMax = 20_000;
const bytesMax = 32 * 1024 * 1024;

/**
 * Events compaction folded into the view a moment ago, still readable through `GET /debug/log`.
 *
 * Readers of the log (`kvs watch-log`, the debug page) poll it. An event is folded as soon as every
 * replica has it, often a few milliseconds after it was written, so without this a poll a moment
 * later would never see it. The log itself cannot simply hold stable events longer: tombstones are
 * collected by the same stability measure, and a held event of a collected key would contradict
 * the view. So folded events move here instead, for `retainMs`, and only while someone reads the
 * log (a read in the last `readerIdleMs`): a store nobody watches pays nothing.
 */
export class RecentlyFolded {
  private readonly entries = new Fifo<{ readonly at: number; readonly event: KvEvent; readonly bytes: number }>();
  private bytes = 0;
  private readerSeenAt = -Infinity;

  get length(): number {
    return this.entries.length;
  }

  /** A reader of the log came by: keep folded events for its next poll. */
  noteReader(now: number): void {
    this.readerSeenAt = now;
  }

  /** Whether events folded now are kept (someone read the log lately). */
  keeping(now: number): boolean {
    return now - this.readerSeenAt <= readerIdleMs;
  }

  add(event: KvEvent, now: number): void {
    if (!this.keeping(now)) return;
    const bytes = approximateBytes(event);
    this.entries.push({ at: now, event, bytes });
    this.bytes += bytes;
    this.evict(now);
  }

  /** The events kept, each origin's in seq order. */
  *events(now: number, filter?: { origin?: ReplicaId; key?: string }): Generator<KvEvent> {
    this.evict(now);
    for (const { event } of this.entries) {
      if ((filter?.origin === undefined || filter.origin === event.origin) && (filter?.key === undefined || filter.key === event.key)) yield event;
    }
  }

  private evict(now: number): void {
    for (let oldest = this.entries.peek(); oldest !== undefined; oldest = this.entries.peek()) {
      if (now - oldest.at < retainMs && this.entries.length <= eventsMax && this.bytes <= bytesMax) break;
      this.entries.shift();
      this.bytes -= oldest.bytes;
    }
  }
}

/** A cheap estimate of an event's memory: its value's JSON text dominates. */
function approximateBytes(event: KvEvent): number {
  const value = event.type === 'delete' ? 0 : typeof event.value === 'string' ? event.value.length : JSON.stringify(event.value).length;
  return 200 + event.key.length + value;
}
