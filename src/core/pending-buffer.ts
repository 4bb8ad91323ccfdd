import type { ReplicaId } from '../../events/ids.ts';
import type { KvEvent } from '../../events/kv-event.ts';
import type { VectorClock } from '../../events/vector-clock.ts';

/**
 * Events that arrived before their causal past, bounded. When full, new arrivals are refused: the
 * sender still sees them missing in our clock and sends them again later, so nothing is lost.
 */
export class PendingBuffer {
  private readonly byOrigin = new Map<ReplicaId, Map<number, KvEvent>>();
  private count = 0;

  constructor(private readonly eventsMax: number) {}

  get size(): number {
    return this.count;
  }

  /** Returns false when the buffer is full and the event was not kept. */
  add(event: KvEvent): boolean {
    let seqs = this.byOrigin.get(event.origin);
    if (seqs?.has(event.seq)) return true;
    if (this.count >= this.eventsMax) return false;
    if (seqs === undefined) {
      seqs = new Map();
      this.byOrigin.set(event.origin, seqs);
    }
    seqs.set(event.seq, event);
    this.count++;
    return true;
  }

  /** The waiting event that would come next from `origin` after `delivered`, if any. */
  next(origin: ReplicaId, delivered: number): KvEvent | undefined {
    return this.byOrigin.get(origin)?.get(delivered + 1);
  }

  remove(event: KvEvent): void {
    const seqs = this.byOrigin.get(event.origin);
    if (seqs?.delete(event.seq)) {
      this.count--;
      if (seqs.size === 0) this.byOrigin.delete(event.origin);
    }
  }

  /** Drops everything already covered by `delivered` (after a snapshot jumped ahead). */
  dropCovered(delivered: VectorClock): void {
    for (const [origin, seqs] of this.byOrigin) {
      const upTo = delivered[origin] ?? 0;
      for (const seq of seqs.keys()) {
        if (seq <= upTo) {
          seqs.delete(seq);
          this.count--;
        }
      }
      if (seqs.size === 0) this.byOrigin.delete(origin);
    }
  }

  /** Drops what waits from `origin` (its life was retired: nothing more of it will ever be delivered). */
  dropOrigin(origin: ReplicaId): void {
    const seqs = this.byOrigin.get(origin);
    if (seqs === undefined) return;
    this.count -= seqs.size;
    this.byOrigin.delete(origin);
  }

  /**
   * Drops what waits for an event that will never be delivered (`doomed`: its causal past holds
   * an event of a retired life beyond that life's final seq). A clock names all of an event's
   * causal past, so an event that follows a doomed one from the same origin is doomed as well.
   */
  dropWhere(doomed: (event: KvEvent) => boolean): void {
    for (const [origin, seqs] of this.byOrigin) {
      for (const [seq, event] of seqs) {
        if (!doomed(event)) continue;
        seqs.delete(seq);
        this.count--;
      }
      if (seqs.size === 0) this.byOrigin.delete(origin);
    }
  }

  /** Per origin, the highest seq waiting. */
  highestSeqs(): VectorClock {
    const out: Record<ReplicaId, number> = {};
    for (const [origin, seqs] of this.byOrigin) out[origin] = Math.max(...seqs.keys());
    return out;
  }

  /** Per origin, the lowest seq waiting: whether the next event of that origin exists here. */
  lowestSeqs(): VectorClock {
    const out: Record<ReplicaId, number> = {};
    for (const [origin, seqs] of this.byOrigin) out[origin] = Math.min(...seqs.keys());
    return out;
  }

  /** Every life named in the causal past of a waiting event: the lives whose events it waits for. */
  namedLives(): Set<ReplicaId> {
    const out = new Set<ReplicaId>();
    for (const seqs of this.byOrigin.values()) for (const event of seqs.values()) for (const id in event.clock) out.add(id as ReplicaId);
    return out;
  }

  origins(): Iterable<ReplicaId> {
    return this.byOrigin.keys();
  }
}
