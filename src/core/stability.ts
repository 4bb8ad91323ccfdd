import type { Address } from '../../events/ids.ts';
import { clockCovers, clockSum, mergeClocks, meetClocks, type VectorClock } from '../../events/vector-clock.ts';

/** What a replica knows of one member of its view, as stability needs it. */
export interface MemberProgress {
  readonly address: Address;
  readonly incarnation: string | undefined;
  readonly known: VectorClock;
  /** Writes the member holds undelivered (custody, pending): not in any clock yet, but they exist. */
  readonly undelivered?: VectorClock;
}

/** One measure of what the view has delivered. */
interface StableCut {
  /** Delivered by every member counted. */
  readonly frontier: VectorClock;
  /** Delivered by some member counted: every write made before its origin saw the frontier. */
  readonly join: VectorClock;
  /** The members counted, as `address incarnation`, sorted: the same set asked both times. */
  readonly members: readonly string[];
  /** Some member lagged too far to be waited for, so it was left out of the cut. */
  readonly lagging: boolean;
}

/**
 * Which events every replica in the view has delivered (stable: they can leave the log), and when
 * stable tombstones may be forgotten.
 *
 * A stable tombstone is not forgotten at once: a write concurrent with the delete that loses to it
 * may still be on its way to this replica, and with the tombstone gone it would win here and
 * nowhere else. Every such write was made before its origin delivered the delete, so it is covered
 * by what the replicas reported once the delete was stable (the join of their clocks at that
 * measure). Tombstones stable at an earlier measure go once the frontier covers the join taken
 * then, and the same replicas were asked both times, none of them left out for lagging. Replicas
 * outside the view (cut off, or down) may hold such writes too, so tombstones are only collected
 * while every replica we track is in the view.
 */
export class Stability {
  frontier: VectorClock;
  private cut: StableCut;

  constructor(empty: VectorClock) {
    this.frontier = empty;
    this.cut = { frontier: empty, join: empty, members: [], lagging: false };
  }

  /**
   * Measures again. A member lagging more than `lagEventsMax` behind stops holding the frontier
   * back (it will be sent a snapshot). Returns the frontier below which tombstones may go now, if any.
   */
  measure(
    delivered: VectorClock,
    members: readonly MemberProgress[],
    lagEventsMax: number | undefined,
    wholeClusterInView: boolean,
    covers: (clock: VectorClock, over: VectorClock) => boolean = clockCovers,
    ownUndelivered: VectorClock = delivered,
  ): VectorClock | undefined {
    let frontier = delivered;
    // Writes held undelivered (custody, pending) count in the join: their origin may be gone and
    // unable to report them, and a concurrent one must still find the tombstone it loses to.
    let join = mergeClocks(delivered, ownUndelivered);
    let lagging = false;
    const counted: string[] = [];
    for (const member of members) {
      if (lagEventsMax !== undefined && clockSum(delivered) - clockSum(meetClocks(member.known, delivered)) > lagEventsMax) {
        // Left out of the frontier; its writes concurrent with a delete are not in the join
        // either, so no tombstone may go until it has caught up.
        lagging = true;
        continue;
      }
      frontier = meetClocks(frontier, member.known);
      join = mergeClocks(join, member.known);
      if (member.undelivered !== undefined) join = mergeClocks(join, member.undelivered);
      counted.push(`${member.address} ${member.incarnation ?? ''}`);
    }
    counted.sort();
    this.frontier = frontier;
    const next: StableCut = { frontier, join, members: counted, lagging };
    const previous = this.cut;
    if (!sameMembers(previous.members, counted) || previous.lagging !== lagging) {
      this.cut = next;
      return undefined;
    }
    if (!lagging && wholeClusterInView && covers(frontier, previous.join)) {
      this.cut = next;
      return previous.frontier;
    }
    return undefined;
  }
}

function sameMembers(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((member, i) => member === b[i]);
}
