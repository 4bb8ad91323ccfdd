import type { Address } from '../../events/ids.ts';
import { mergeClocks, type VectorClock } from '../../events/vector-clock.ts';

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
 * So the life notes the first clock it hears from each peer (a push, a probe's answer, a snapshot):
 * the history the peer had before it knew this life. Once it has caught up with the ones that had
 * events it lacked, it writes each key it put until then again, with the key's winner here, as a
 * new event (Replica.rewriteAfterCatchUp): a put again, or a tombstone when the put lost here. The
 * new event follows that whole history in causal order, so every replica takes it, whether or not
 * it still holds the tombstone, and they all end with what this replica shows. A peer first heard
 * later (it was cut off) may bring more history: the keys put until then are written again then.
 * Once every peer has been heard from and caught up with, the life stops watching.
 */
export class WritesBeforeCatchUp {
  /** The peers whose first clock since this life started has been taken. */
  private readonly heard = new Set<Address>();
  /** The first clocks of the peers that had events this life lacked, joined. */
  private target: VectorClock | undefined;
  private keys = new Set<string>();

  /** A put made here. */
  notePut(key: string): void {
    if (this.keys.size < keysBeforeCatchUpMax) this.keys.add(key);
  }

  /**
   * A peer's delivered clock; `lacks` tells whether it holds events this life has not delivered.
   * Only the first one of each peer counts: from then on the peer knows this life, and a later
   * history of its own is ordered with this life's writes as any other replica's is.
   */
  notePeerClock(peer: Address, clock: VectorClock, lacks: (clock: VectorClock) => boolean): void {
    if (this.heard.has(peer)) return;
    this.heard.add(peer);
    if (lacks(clock)) this.target = this.target === undefined ? clock : mergeClocks(this.target, clock);
  }

  /** Once `covers` what the peers heard from had: the keys put until now, to write again (each time once). */
  takeCaughtUp(covers: (clock: VectorClock) => boolean): { readonly target: VectorClock; readonly keys: ReadonlySet<string> } | undefined {
    if (this.target === undefined || !covers(this.target)) return undefined;
    const caught = { target: this.target, keys: this.keys };
    this.target = undefined;
    this.keys = new Set();
    return caught;
  }

  /** Every one of `peers` has been heard from, and what they had is caught up with: nothing more to watch. */
  doneWith(peers: Iterable<Address>): boolean {
    if (this.target !== undefined) return false;
    for (const peer of peers) if (!this.heard.has(peer)) return false;
    return true;
  }
}
