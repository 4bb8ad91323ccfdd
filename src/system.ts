import { performance } from 'node:perf_hooks';
import type { Clock } from './node/clock.ts';
import type { Timers } from './node/timers.ts';

/** The real clock: monotonic milliseconds of this process. */
export const systemClock: Clock = { now: () => Math.floor(performance.now()) };

/** The real timers: setTimeout, and setImmediate for the end of this turn of the event loop. */
export const systemTimers: Timers = {
  after(delayMs, run) {
    const timer = setTimeout(run, delayMs);
    return { cancel: () => clearTimeout(timer) };
  },
  soon(run) {
    setImmediate(run);
  },
};
