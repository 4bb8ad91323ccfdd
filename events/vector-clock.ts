import type { ReplicaId } from './ids.ts';

/**
 * A vector clock: for each replica life, how many of its events are included. Missing entries
 * are 0. Clocks are treated as immutable values; every operation returns a new frozen object.
 */
export type VectorClock = Readonly<Record<ReplicaId, number>>;

export type ClockOrder = 'before' | 'after' | 'equal' | 'concurrent';

export const emptyClock: VectorClock = Object.freeze({});

export function clockEntry(clock: VectorClock, id: ReplicaId): number {
  return clock[id] ?? 0;
}

/** True when `clock` includes event `seq` of `origin`: an origin's events are included in seq order. */
export function clockIncludes(clock: VectorClock, origin: ReplicaId, seq: number): boolean {
  return (clock[origin] ?? 0) >= seq;
}

/** How `a` relates to `b` in happens-before. */
export function compareClocks(a: VectorClock, b: VectorClock): ClockOrder {
  let aBigger = false;
  let bBigger = false;
  for (const id in a) {
    const av = a[id as ReplicaId]!;
    const bv = b[id as ReplicaId] ?? 0;
    if (av > bv) aBigger = true;
    else if (av < bv) bBigger = true;
  }
  for (const id in b) {
    if (!(id in a) && b[id as ReplicaId]! > 0) bBigger = true;
  }
  if (aBigger && bBigger) return 'concurrent';
  if (aBigger) return 'after';
  if (bBigger) return 'before';
  return 'equal';
}

/** True when `a` includes everything `b` includes (a >= b entry by entry). */
export function clockCovers(a: VectorClock, b: VectorClock): boolean {
  for (const id in b) {
    if ((a[id as ReplicaId] ?? 0) < b[id as ReplicaId]!) return false;
  }
  return true;
}

export function mergeClocks(a: VectorClock, b: VectorClock): VectorClock {
  if (clockCovers(a, b)) return a;
  if (clockCovers(b, a)) return b;
  const out: Record<string, number> = { ...a };
  for (const id in b) {
    const bv = b[id as ReplicaId]!;
    if ((out[id] ?? 0) < bv) out[id] = bv;
  }
  return Object.freeze(out) as VectorClock;
}

/** Entry-wise minimum; an entry missing from either side is 0 and left out. */
export function meetClocks(a: VectorClock, b: VectorClock): VectorClock {
  const out: Record<string, number> = {};
  for (const id in a) {
    const v = Math.min(a[id as ReplicaId]!, b[id as ReplicaId] ?? 0);
    if (v > 0) out[id] = v;
  }
  return Object.freeze(out) as VectorClock;
}

/** Sum of all entries: strictly grows along happens-before, so it can lead a total order. */
export function clockSum(clock: VectorClock): number {
  let sum = 0;
  for (const id in clock) sum += clock[id as ReplicaId]!;
  return sum;
}
