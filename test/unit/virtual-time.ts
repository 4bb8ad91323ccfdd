// Virtual time for unit tests of the production node: a clock and timers over an EventQueue, and
// runUntil, which runs what falls due in order, each at its own time.
import type { Clock } from '../../src/node/clock.ts';
import type { Timers } from '../../src/node/timers.ts';
import { EventQueue } from '../simulation/event-queue.ts';

export class VirtualTime {
  now = 0;
  private readonly queue = new EventQueue();
  readonly clock: Clock = { now: () => this.now };
  readonly timers: Timers = {
    after: (delayMs, run) => {
      let cancelled = false;
      this.queue.push(this.now + delayMs, () => !cancelled && run());
      return { cancel: () => (cancelled = true) };
    },
    soon: (run) => this.queue.push(this.now, run),
  };

  /** Runs `run` at virtual time `at`. */
  schedule(at: number, run: () => void): void {
    this.queue.push(at, run);
  }

  runUntil(time: number): void {
    for (let next = this.queue.peekTime(); next !== undefined && next <= time; next = this.queue.peekTime()) {
      const entry = this.queue.pop()!;
      this.now = entry.at;
      entry.run();
    }
    this.now = time;
  }
}
