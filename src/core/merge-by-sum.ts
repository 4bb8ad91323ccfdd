import type { KvEvent } from '../../events/kv-event.ts';
import { clockSum } from '../../events/vector-clock.ts';

/**
 * Merges per-origin suffixes (each in seq order, hence in clock-sum order) into one batch in
 * clock-sum order, cut at `max`. Clock sums grow along happens-before, so whatever the cut, every
 * event in the batch comes after all its causal past that the peer lacks and we hold.
 */
export function mergeBySum(suffixes: readonly (readonly KvEvent[])[], max: number): KvEvent[] {
  if (suffixes.length === 1) return suffixes[0]!.slice(0, max);
  const heads = suffixes.map(() => 0);
  const out: KvEvent[] = [];
  while (out.length < max) {
    let best = -1;
    let bestSum = Number.POSITIVE_INFINITY;
    for (let i = 0; i < suffixes.length; i++) {
      const event = suffixes[i]![heads[i]!];
      if (event === undefined) continue;
      const sum = clockSum(event.clock);
      if (sum < bestSum) {
        best = i;
        bestSum = sum;
      }
    }
    if (best < 0) break;
    out.push(suffixes[best]![heads[best]!++]!);
  }
  return out;
}
