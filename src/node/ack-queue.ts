import { InvariantViolation } from '../core/assert.ts';

/**
 * Client writes waiting for their acknowledgement, in the order they were made: this replica's own
 * events, whose seqs only grow, each answered once the core says writes up to its seq may be
 * (another replica holds them), or at its deadline. Because both the seqs and the deadlines
 * (one timeout for all) grow along the queue, settling is a walk from the front that stops at the
 * first write still waiting, and one timer, for the front, serves them all: no work per parked
 * write on every input, no timer per write. Bounded: when full, a new write is answered at once.
 */
export class AckQueue {
  private readonly waiting: { readonly seq: number; readonly deadline: number; readonly done: (acknowledged: boolean) => void }[] = [];
  private head = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly waitingMax: number,
    private readonly timeoutMs: number,
    private readonly now: () => number,
  ) {}

  get size(): number {
    return this.waiting.length - this.head;
  }

  /**
   * Resolves true once settle() is called with `settledUpTo` >= seq, false at the deadline or when
   * the queue is full. Seqs must be given in increasing order.
   */
  wait(seq: number, settledUpTo: number): Promise<boolean> {
    if (seq <= settledUpTo) return Promise.resolve(true);
    if (this.timeoutMs <= 0 || this.size >= this.waitingMax) return Promise.resolve(false);
    const last = this.waiting[this.waiting.length - 1];
    if (this.size > 0 && last !== undefined && last.seq >= seq) throw new InvariantViolation(`write ${seq} queued after ${last.seq}`);
    return new Promise((done) => {
      this.waiting.push({ seq, deadline: this.now() + this.timeoutMs, done });
      this.arm();
    });
  }

  /** Answers every write up to `settledUpTo`. */
  settle(settledUpTo: number): void {
    const before = this.head;
    while (this.head < this.waiting.length && this.waiting[this.head]!.seq <= settledUpTo) this.waiting[this.head++]!.done(true);
    if (this.head !== before) this.afterTaking();
  }

  /** Answers everything, unacknowledged (shutting down). */
  releaseAll(): void {
    while (this.head < this.waiting.length) this.waiting[this.head++]!.done(false);
    this.afterTaking();
  }

  private expire(): void {
    this.timer = undefined;
    const now = this.now();
    while (this.head < this.waiting.length && this.waiting[this.head]!.deadline <= now) this.waiting[this.head++]!.done(false);
    this.afterTaking();
    this.arm();
  }

  /** Drops answered entries once they are half the array (shift() on each would move them all); no timer once empty. */
  private afterTaking(): void {
    if (this.head === this.waiting.length) {
      this.waiting.length = 0;
      this.head = 0;
      clearTimeout(this.timer);
      this.timer = undefined;
    } else if (this.head * 2 >= this.waiting.length) {
      this.waiting.splice(0, this.head);
      this.head = 0;
    }
  }

  /**
   * One timer while anything waits. It is set for the front's deadline and not moved when the front
   * is answered: it then fires early for the new front, answers nothing, and is set again.
   */
  private arm(): void {
    const front = this.waiting[this.head];
    if (this.timer !== undefined || front === undefined) return;
    this.timer = setTimeout(() => this.expire(), Math.max(0, front.deadline - this.now()));
  }
}
