import type { VectorClock } from '../../events/vector-clock.ts';

/** At most this many keys put before catching up are remembered (the others keep the order they have). */
export const keysBeforeCatchUpMax = 100_000;

/**
 * The keys a life puts before it has caught up with its group's history. A life starts with
 * nothing (or with what its DATA_DIR kept) and takes client writes at once, before its start-up
 * pull is in, and without it when no peer answered in time (they were cut off or down). Its
 * group may have a history it has not seen yet, and replicas that counted its address by an
 * earlier life (or by this one before it was declared failed) may already have collected stable
 * tombstones of that history. A put made before catching up is concurrent with such a tombstone.
 * A replica that still holds the tombstone picks the winner by the conflict order (the delete,
 * when it comes later in that order); one that collected it has nothing to compare with and takes
 * the put; the two never converge (simulation, sharded seeds 58765 and 63849).
 *
 * So once the life has caught up with what the first peer it heard from had (a push, a probe's
 * answer, a snapshot), it writes each such key's winner here again, as a new event
 * (Replica.rewriteAfterCatchUp): a put again, or a tombstone when the put lost here. The new event
 * follows that whole history in causal order, so every replica takes it, whether or not it still
 * holds the tombstone, and they all end with what this replica shows.
 */
export class WritesBeforeCatchUp {
  /** The first clock a peer of the group had with events this life lacked. */
  private target: VectorClock | undefined;
  private readonly keys = new Set<string>();

  /** A put made before catching up. */
  notePut(key: string): void {
    if (this.keys.size < keysBeforeCatchUpMax) this.keys.add(key);
  }

  /** A peer's delivered clock; `lacks` tells whether it holds events this life has not delivered. */
  notePeerClock(clock: VectorClock, lacks: (clock: VectorClock) => boolean): void {
    if (this.target === undefined && lacks(clock)) this.target = clock;
  }

  /** Once `covers` the clock this life had to catch up with: that clock, and the keys put before. */
  caughtUp(covers: (clock: VectorClock) => boolean): { readonly target: VectorClock; readonly keys: ReadonlySet<string> } | undefined {
    return this.target !== undefined && covers(this.target) ? { target: this.target, keys: this.keys } : undefined;
  }
}
