import { performance } from 'node:perf_hooks';

/** Where the node reads the time: monotonic milliseconds. The simulation gives a virtual one. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Math.floor(performance.now()) };
