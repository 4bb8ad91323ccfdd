import type { KvEvent } from '../../events/kv-event.ts';
import { clockSum } from '../../events/vector-clock.ts';

/**
 * The one total order on events that every replica uses to pick a key's winner: by clock sum, then
 * by origin. The sum strictly grows along happens-before, so the order extends it: a write that
 * causally follows another always wins. Events of one origin never tie (their sums differ).
 * Returns > 0 when `a` comes after (wins over) `b`.
 */
export function compareEvents(a: KvEvent, b: KvEvent): number {
  const bySum = clockSum(a.clock) - clockSum(b.clock);
  if (bySum !== 0) return bySum;
  if (a.origin !== b.origin) return a.origin < b.origin ? -1 : 1;
  return a.seq - b.seq;
}

export function wins(candidate: KvEvent, current: KvEvent | undefined): boolean {
  return current === undefined || compareEvents(candidate, current) > 0;
}
