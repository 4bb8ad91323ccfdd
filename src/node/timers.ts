/** A timer the node armed, to cancel. */
export interface TimerHandle {
  cancel(): void;
}

/**
 * The node's timers: `after` runs a callback once, a delay from now; `soon` runs it at the end of
 * this turn, once the inputs that arrived together are all in. Production uses setTimeout and
 * setImmediate (main.ts); the simulation, virtual ones.
 */
export interface Timers {
  after(delayMs: number, run: () => void): TimerHandle;
  soon(run: () => void): void;
}
