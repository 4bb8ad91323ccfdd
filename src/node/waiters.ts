/**
 * Requests parked until a condition on the replica's state holds (their causal dependencies are
 * delivered, their write is held by a peer), each with a deadline. Bounded: when full, a new
 * waiter is refused at once, so a flood of unsatisfiable requests cannot grow memory.
 */
export class Waiters {
  private readonly parked = new Set<{ ready: () => boolean; done: (ok: boolean) => void }>();

  constructor(private readonly waitersMax: number) {}

  get size(): number {
    return this.parked.size;
  }

  /** Resolves true as soon as `ready()` holds (checked on every check() call), false at the deadline or when full. */
  wait(ready: () => boolean, timeoutMs: number): Promise<boolean> {
    if (ready()) return Promise.resolve(true);
    if (timeoutMs <= 0 || this.parked.size >= this.waitersMax) return Promise.resolve(false);
    return new Promise((resolve) => {
      const entry = {
        ready,
        done: (ok: boolean) => {
          clearTimeout(timer);
          this.parked.delete(entry);
          resolve(ok);
        },
      };
      const timer = setTimeout(() => entry.done(false), timeoutMs);
      this.parked.add(entry);
    });
  }

  /** Re-checks every parked waiter; call after anything that may have made one ready. */
  check(): void {
    for (const entry of this.parked) if (entry.ready()) entry.done(true);
  }

  /** Releases everything (shutting down). */
  releaseAll(): void {
    for (const entry of this.parked) entry.done(false);
  }
}
