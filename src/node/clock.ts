/** Where the node reads the time: monotonic milliseconds. Production reads performance.now() (main.ts); the simulation, virtual time. */
export interface Clock {
  now(): number;
}
