import { InvariantViolation } from './assert.ts';

/** What becomes of a write offered to park(). */
export type ParkOutcome =
  /** Answer it now, successfully: settled already, or stored here and no wait allowed (the queue is full, or no timeout). */
  | 'answer'
  /** Parked: take() hands it back later. */
  | 'parked'
  /** Answer it now, with a failure: it cannot wait (the queue is full) and it is not stored here yet. */
  | 'unstored';

/** The parked writes take() hands back: to answer successfully, and to answer with a failure (not stored here in time). */
export interface TakenWrites<Ticket> {
  readonly acknowledged: readonly Ticket[];
  readonly unstored: readonly Ticket[];
}

/**
 * Client writes waiting for their acknowledgement, in the order they were made: this replica's own
 * events, whose seqs only grow. A write is acknowledged once writes up to its seq are settled
 * (another replica holds them), or once its peer wait is over (timeoutMs), but never before this
 * replica's own storage holds it: a write its storage has not taken storeWaitMs after it was made
 * is handed back as unstored (the shell answers 503, the outcome unknown to the client: the write
 * stays delivered here and is stored and replicated once the disk takes it). Without a DATA_DIR
 * storage holds every write at once, so only the first two rules ever apply.
 *
 * Seqs, the stored prefix and the times writes were made all grow along the queue, so answering is
 * a walk from the front that stops at the first write still waiting: no work per parked write on
 * every input. Pure: time comes in as `now`; a ticket is whatever the shell needs to answer the
 * client, kept and handed back, never looked into.
 */
export class WriteAcks<Ticket> {
  private readonly waiting: { readonly seq: number; readonly madeAt: number; readonly ticket: Ticket }[] = [];
  private head = 0;

  constructor(
    private readonly waitingMax: number,
    private readonly timeoutMs: number,
    private readonly storeWaitMs: number,
  ) {}

  get size(): number {
    return this.waiting.length - this.head;
  }

  /**
   * Offers write `seq`, made `now`: answered at once when settled, or when it may not wait (the
   * queue is full: a flood of writes cannot grow memory; or no timeout) and storage holds it;
   * refused as unstored when it may not wait and storage does not hold it yet. Seqs must grow.
   */
  park(seq: number, ticket: Ticket, settledUpTo: number, storedUpTo: number, now: number): ParkOutcome {
    if (seq <= settledUpTo) return 'answer';
    if (this.size >= this.waitingMax) return seq <= storedUpTo ? 'answer' : 'unstored';
    if (this.timeoutMs <= 0 && seq <= storedUpTo) return 'answer';
    const last = this.waiting.at(-1);
    if (this.size > 0 && last !== undefined && last.seq >= seq) throw new InvariantViolation(`write ${seq} queued after ${last.seq}`);
    this.waiting.push({ seq, madeAt: now, ticket });
    return 'parked';
  }

  /** The writes to answer now, in order: settled, or stored and past their peer wait; or unstored past the storage wait. */
  take(settledUpTo: number, storedUpTo: number, now: number): TakenWrites<Ticket> {
    const acknowledged: Ticket[] = [];
    const unstored: Ticket[] = [];
    while (this.head < this.waiting.length) {
      const front = this.waiting[this.head]!;
      if (front.seq <= settledUpTo || (front.seq <= storedUpTo && front.madeAt + this.timeoutMs <= now)) acknowledged.push(front.ticket);
      else if (front.seq > storedUpTo && front.madeAt + this.storeWaitMs <= now) unstored.push(front.ticket);
      else break;
      this.head++;
    }
    if (this.head > 0) this.trim();
    return { acknowledged, unstored };
  }

  /** When the front write is next due (its peer wait, or its storage wait if storage does not hold it yet), if any waits. */
  nextDeadline(storedUpTo: number): number | undefined {
    const front = this.waiting[this.head];
    if (front === undefined) return undefined;
    return front.madeAt + (front.seq <= storedUpTo ? this.timeoutMs : this.storeWaitMs);
  }

  /** Drops answered entries once they are half the array (shift() on each would move them all). */
  private trim(): void {
    if (this.head === this.waiting.length) {
      this.waiting.length = 0;
      this.head = 0;
    } else if (this.head * 2 >= this.waiting.length) {
      this.waiting.splice(0, this.head);
      this.head = 0;
    }
  }
}
