/** A broken invariant is a bug: fail loudly instead of serving wrong data. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`invariant violated: ${message}`);
}
