import type { ReplicaId } from '../../events/ids.ts';
import type { KvEvent } from '../../events/kv-event.ts';
import { assert } from './assert.ts';

/**
 * Custody between this replica and one peer, both ways. While a link is held down no events flow
 * on it, with one exception: a replica's own new writes that no other replica holds yet are
 * offered for custody to a peer that answers probes. The peer keeps them unapplied until its
 * hold-down ends, so the link stays honest (a re-attached replica still answers 503), and a write
 * acknowledged meanwhile survives its origin's crash.
 */
export class Custody {
  /** The peer's own events it left with us while we held its link down, gap-free; applied once the hold-down ends. */
  private held: KvEvent[] = [];
  /** The highest of our own events this peer keeps in custody for us. */
  keptForUsSeq = 0;

  constructor(private readonly eventsMax: number) {}

  get heldCount(): number {
    return this.held.length;
  }

  /** The last event we hold for the peer, if any. */
  heldLast(): KvEvent | undefined {
    return this.held.at(-1);
  }

  /** The lowest seq we hold for the peer above `delivered` (held events are gap-free), if any. */
  heldFrom(delivered: number): number | undefined {
    const first = this.held[0];
    const last = this.held.at(-1);
    if (first === undefined || last!.seq <= delivered) return undefined;
    return Math.max(first.seq, delivered + 1);
  }

  /** Keeps the sender's own events that follow what we hold or delivered, gap-free, within the bound. */
  keep(origin: ReplicaId, events: readonly KvEvent[], delivered: number): void {
    const tail = this.held.at(-1);
    // A previous life's custody is applied when the next life shows itself (Replica.peerStartedAfresh).
    assert(tail === undefined || tail.origin === origin, `custody of ${tail?.origin} mixed with ${origin}`);
    let last = tail?.seq ?? delivered;
    for (const event of events) {
      if (event.origin !== origin || event.seq !== last + 1 || this.held.length >= this.eventsMax) continue;
      this.held.push(event);
      last = event.seq;
    }
  }

  /** Hands over what we held, to be applied now. */
  release(): KvEvent[] {
    const events = this.held;
    this.held = [];
    return events;
  }

  /** Takes back what could not be applied yet (released a moment ago, so nothing else is held). */
  restore(events: readonly KvEvent[]): void {
    assert(this.held.length === 0, 'custody restored over custody');
    this.held = [...events];
  }

  /** The peer told us, on a held-down answer, how much of ours it keeps. */
  peerKeeps(seq: number): void {
    this.keptForUsSeq = Math.max(this.keptForUsSeq, seq);
  }

  /**
   * The peer's new life lost what it kept for us. What it left with us stays: it may be the only
   * copy of its previous life's acknowledged writes.
   */
  peerRestarted(): void {
    this.keptForUsSeq = 0;
  }
}
