import type { ReplicaId } from '../../events/ids.ts';
import type { KvEvent } from '../../events/kv-event.ts';
import type { VectorClock } from '../../events/vector-clock.ts';
import { assert } from './assert.ts';

/** One origin's delivered events still held: seqs floor+1 .. floor+events.length, in order. */
interface OriginLog {
  floor: number;
  events: KvEvent[];
  /** Index of the first held event in `events` (compaction advances it; the array is trimmed lazily). */
  start: number;
}

/**
 * The delivered events, kept per origin in seq order. Events at or below an origin's floor have
 * been compacted into the view (or arrived folded in a snapshot) and can no longer be sent as a
 * suffix; a peer that needs them gets a snapshot.
 */
export class OperationLog {
  private readonly origins = new Map<ReplicaId, OriginLog>();
  private held = 0;

  get length(): number {
    return this.held;
  }

  private originLog(origin: ReplicaId): OriginLog {
    let log = this.origins.get(origin);
    if (log === undefined) {
      log = { floor: 0, events: [], start: 0 };
      this.origins.set(origin, log);
    }
    return log;
  }

  /** The last seq this log knows for `origin` (held or compacted). */
  lastSeq(origin: ReplicaId): number {
    const log = this.origins.get(origin);
    return log === undefined ? 0 : log.floor + log.events.length - log.start;
  }

  floorOf(origin: ReplicaId): number {
    return this.origins.get(origin)?.floor ?? 0;
  }

  append(event: KvEvent): void {
    const log = this.originLog(event.origin);
    assert(event.seq === log.floor + log.events.length - log.start + 1, `log gap appending ${event.origin}#${event.seq}`);
    log.events.push(event);
    this.held++;
  }

  /** Held events of `origin` with seq > afterSeq, at most `max`; undefined if some were compacted. */
  suffix(origin: ReplicaId, afterSeq: number, max: number): KvEvent[] | undefined {
    const log = this.origins.get(origin);
    if (log === undefined) return afterSeq === 0 ? [] : undefined;
    if (afterSeq < log.floor) return undefined;
    const from = log.start + (afterSeq - log.floor);
    return log.events.slice(from, Math.min(log.events.length, from + max));
  }

  /** Drops held events at or below `stable` (seq per origin), showing each to `folded` if given. */
  compact(stable: VectorClock, folded?: (event: KvEvent) => void): number {
    let dropped = 0;
    for (const [origin, log] of this.origins) {
      const upTo = Math.min(stable[origin] ?? 0, log.floor + log.events.length - log.start);
      if (upTo <= log.floor) continue;
      const count = upTo - log.floor;
      if (folded !== undefined) for (let i = log.start; i < log.start + count; i++) folded(log.events[i]!);
      log.start += count;
      log.floor = upTo;
      dropped += count;
      if (log.start > 1024 && log.start * 2 > log.events.length) {
        log.events = log.events.slice(log.start);
        log.start = 0;
      }
    }
    this.held -= dropped;
    return dropped;
  }

  /**
   * After installing a snapshot that covers `origin` up to `seq`: everything up to there is in the
   * view now, so the held events up to there are dropped and the floor moves up.
   */
  advanceFloor(origin: ReplicaId, seq: number): void {
    const log = this.originLog(origin);
    const last = log.floor + log.events.length - log.start;
    if (seq <= last) {
      this.compact({ [origin]: seq } as VectorClock);
      return;
    }
    this.held -= log.events.length - log.start;
    log.floor = seq;
    log.events = [];
    log.start = 0;
  }

  /** Forgets `origin` altogether: its life was retired, every event of it is in the view everywhere. */
  dropOrigin(origin: ReplicaId): void {
    const log = this.origins.get(origin);
    if (log === undefined) return;
    this.held -= log.events.length - log.start;
    this.origins.delete(origin);
  }

  *originIds(): Generator<ReplicaId> {
    yield* this.origins.keys();
  }

  /** Held events, each origin in seq order (origins one after another). */
  *events(filter?: { origin?: ReplicaId; key?: string }): Generator<KvEvent> {
    for (const [origin, log] of this.origins) {
      if (filter?.origin !== undefined && filter.origin !== origin) continue;
      for (let i = log.start; i < log.events.length; i++) {
        const event = log.events[i]!;
        if (filter?.key === undefined || filter.key === event.key) yield event;
      }
    }
  }
}
