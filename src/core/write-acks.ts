import { InvariantViolation } from './assert.ts';

/**
 * Client writes waiting for their acknowledgement, in the order they were made: this replica's own
 * events, whose seqs only grow, each answered once writes up to its seq are settled (another
 * replica holds them) or at its deadline. Both seqs and deadlines (one timeout for all) grow along
 * the queue, so answering is a walk from the front that stops at the first write still waiting: no
 * work per parked write on every input. Pure: time comes in as `now`; a ticket is whatever the
 * shell needs to answer the client, kept and handed back, never looked into.
 */
export class WriteAcks<Ticket> {
  private readonly waiting: { readonly seq: number; readonly deadline: number; readonly ticket: Ticket }[] = [];
  private head = 0;

  constructor(
    private readonly waitingMax: number,
    private readonly timeoutMs: number,
  ) {}

  get size(): number {
    return this.waiting.length - this.head;
  }

  /**
   * Parks a write; false when it is to be answered at once: already settled, no waiting allowed,
   * or the queue is full (a flood of writes cannot grow memory). Seqs must grow.
   */
  park(seq: number, ticket: Ticket, settledUpTo: number, now: number): boolean {
    if (seq <= settledUpTo || this.timeoutMs <= 0 || this.size >= this.waitingMax) return false;
    const last = this.waiting.at(-1);
    if (this.size > 0 && last !== undefined && last.seq >= seq) throw new InvariantViolation(`write ${seq} queued after ${last.seq}`);
    this.waiting.push({ seq, deadline: now + this.timeoutMs, ticket });
    return true;
  }

  /** The writes to answer now: settled (seq <= settledUpTo) or overdue, in order. */
  take(settledUpTo: number, now: number): Ticket[] {
    const answered: Ticket[] = [];
    while (this.head < this.waiting.length) {
      const front = this.waiting[this.head]!;
      if (front.seq > settledUpTo && front.deadline > now) break;
      answered.push(front.ticket);
      this.head++;
    }
    if (answered.length > 0) this.trim();
    return answered;
  }

  /** When the front write is due, if any waits. */
  nextDeadline(): number | undefined {
    return this.waiting[this.head]?.deadline;
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
