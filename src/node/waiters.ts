import type { TimerHandle, Timers } from './timers.ts';

interface Parked {
  readonly ready: () => boolean;
  readonly done: (ok: boolean) => void;
  timer: TimerHandle | undefined;
}

/**
 * Requests parked until a condition on the replica's state holds (their causal dependencies are
 * delivered, the replica has joined), each with a deadline. Bounded: when full, a new waiter is
 * refused at once, so a flood of unsatisfiable requests cannot grow memory.
 */
export class Waiters {
  private readonly parked = new Set<Parked>();

  constructor(
    private readonly waitersMax: number,
    private readonly timers: Timers,
  ) {}

  get size(): number {
    return this.parked.size;
  }

  /** Calls `done(true)` as soon as `ready()` holds (checked on every check() call), `done(false)` at the deadline or when full. */
  wait(ready: () => boolean, timeoutMs: number, done: (ok: boolean) => void): void {
    if (ready()) return done(true);
    if (timeoutMs <= 0 || this.parked.size >= this.waitersMax) return done(false);
    const entry: Parked = { ready, done, timer: undefined };
    entry.timer = this.timers.after(timeoutMs, () => this.finish(entry, false));
    this.parked.add(entry);
  }

  /** Re-checks every parked waiter; call after anything that may have made one ready. */
  check(): void {
    for (const entry of this.parked) if (entry.ready()) this.finish(entry, true);
  }

  /** Releases everything (shutting down). */
  releaseAll(): void {
    for (const entry of this.parked) this.finish(entry, false);
  }

  private finish(entry: Parked, ok: boolean): void {
    if (!this.parked.delete(entry)) return;
    entry.timer?.cancel();
    entry.done(ok);
  }
}
