import { addressOf, type Address, type ReplicaId } from '../../events/ids.ts';
import { eventId, type KvEvent } from '../../events/kv-event.ts';
import { clockIncludes, type VectorClock } from '../../events/vector-clock.ts';
import type { RecentAnswer } from './answers.ts';
import type { Answer } from './fetch-json.ts';

/** Events the page remembers; the oldest made go first. */
const keepMax = 1000;
/** Events drawn from one delivered range: a snapshot or a long catch-up delivers thousands at once. */
const rangeMax = 200;
const tailRows = 25;

/** When a replica delivered an event: `exact` when it recorded the delivery, else the first poll of its clock that covered it. */
export interface Delivery {
  readonly at: number;
  readonly exact: boolean;
}

/** An event as the page knows it. Times are this browser's clock readings. */
export interface PageEvent {
  readonly id: string;
  readonly origin: ReplicaId;
  readonly seq: number;
  /** Its origin's address: the lane its dot is drawn on. */
  readonly lane: Address;
  /** The write itself; null until its origin's records or this replica's log told it. */
  write: KvEvent | null;
  /** When its origin made it; null unless the origin's records told it. */
  createdAt: number | null;
  readonly firstSeen: number;
  readonly delivered: Map<Address, Delivery>;
  /** This replica's log was asked for the write once (it may have been compacted away). */
  logTried: boolean;
}

/** An event this replica delivered, and when. */
export interface TailEntry {
  readonly ev: PageEvent;
  readonly at: number;
}

/** The events seen in any replica's records or clock, where each was delivered, and which this replica delivered. */
export class EventStore {
  private readonly events = new Map<string, PageEvent>();
  private tail: TailEntry[] = [];
  private readonly inTail = new Set<string>();

  all(): Iterable<PageEvent> {
    return this.events.values();
  }

  /**
   * The records of `/debug/recent` of `address`, placed on this browser's clock: each was `agoMs`
   * old when the replica answered, the middle of the round trip. No two machines' clocks are
   * compared, and the error is at most half a round trip.
   */
  applyRecords(address: Address, answer: Answer<RecentAnswer>, deliveredHere: boolean): void {
    const middle = (answer.t0 + answer.t1) / 2;
    for (const record of answer.body.records) {
      const at = middle - record.agoMs;
      if (record.kind === 'write') {
        const ev = this.ensure(record.event.origin, record.event.seq);
        ev.write = record.event;
        ev.createdAt = at;
        this.markDelivered(ev, address, at, true);
        if (deliveredHere) this.noteTail(ev, at);
      } else {
        for (let seq = Math.max(record.fromSeq, record.toSeq - rangeMax + 1); seq <= record.toSeq; seq++) {
          const ev = this.ensure(record.origin, seq);
          this.markDelivered(ev, address, at, true);
          if (deliveredHere) this.noteTail(ev, at);
        }
      }
    }
  }

  /** Whatever `clock` of `address` covered when it was read at `at`, and no record placed: delivered by then. */
  markCovered(address: Address, clock: VectorClock, at: number): void {
    for (const ev of this.events.values()) {
      if (!ev.delivered.has(address) && clockIncludes(clock, ev.origin, ev.seq)) this.markDelivered(ev, address, at, false);
    }
  }

  /** Forgets the oldest made (or first seen) events beyond what the page keeps. */
  prune(): void {
    if (this.events.size <= keepMax) return;
    const oldestFirst = [...this.events.values()].sort((a, b) => (a.createdAt ?? a.firstSeen) - (b.createdAt ?? b.firstSeen));
    for (const ev of oldestFirst.slice(0, this.events.size - keepMax)) this.events.delete(ev.id);
    this.tail = this.tail.filter((entry) => {
      if (this.events.has(entry.ev.id)) return true;
      this.inTail.delete(entry.ev.id);
      return false;
    });
  }

  /** The rows of the log tail: the events this replica delivered last, newest first. */
  newestTail(): TailEntry[] {
    return [...this.tail].sort((a, b) => b.at - a.at || b.ev.seq - a.ev.seq).slice(0, tailRows);
  }

  private ensure(origin: ReplicaId, seq: number): PageEvent {
    const id = eventId({ origin, seq });
    let ev = this.events.get(id);
    if (ev === undefined) {
      ev = { id, origin, seq, lane: addressOf(origin), write: null, createdAt: null, firstSeen: Date.now(), delivered: new Map(), logTried: false };
      this.events.set(id, ev);
    }
    return ev;
  }

  /** The earliest moment known wins: a later record or poll of the same delivery says less. */
  private markDelivered(ev: PageEvent, address: Address, at: number, exact: boolean): void {
    const known = ev.delivered.get(address);
    if (known === undefined || at < known.at) ev.delivered.set(address, { at, exact });
  }

  private noteTail(ev: PageEvent, at: number): void {
    if (this.inTail.has(ev.id)) return;
    this.inTail.add(ev.id);
    this.tail.push({ ev, at });
    if (this.tail.length > keepMax) this.inTail.delete(this.tail.shift()!.ev.id);
  }
}
