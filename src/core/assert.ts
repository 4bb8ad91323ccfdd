/**
 * A broken invariant: a bug, after which this process's state can no longer be trusted. It is
 * never answered as an ordinary error: the process logs it and exits (src/main.ts), whether it is
 * thrown in a request (src/http/errors.ts hands it to `onFatal`) or in a timer.
 */
export class InvariantViolation extends Error {
  constructor(message: string) {
    super(`invariant violated: ${message}`);
    this.name = 'InvariantViolation';
  }
}

/** A broken invariant is a bug: fail loudly instead of serving wrong data. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new InvariantViolation(message);
}
