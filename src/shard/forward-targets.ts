import type { Address } from '../../events/ids.ts';
import { membersOf, shardOfNode, type ShardMap } from '../../events/shard-map.ts';

/**
 * The members of `shard` in the order `self` tries them when it forwards a request there: first
 * the member at `self`'s own place in its shard, then the ones after it, round the list.
 *
 * Each node sticks to one member per shard, and the nodes of one shard spread over the other's
 * members. Sticking matters: a client that stays on one node chains its metadata, and the member
 * that made the client's last write holds it, where any other member might first wait for it to
 * arrive (a causal wait). Rotating per request instead made the target shard spend twice the CPU
 * per forwarded write (2 x 3 nodes, 2000 chained writes through one node: 1375 against 680 us
 * summed over the target shard's members).
 */
export function forwardOrder(map: ShardMap, self: Address, shard: number): Address[] {
  const members = membersOf(map, shard).filter((member) => member !== self);
  if (members.length === 0) return [];
  const ownShard = shardOfNode(map, self);
  // A node in no shard (not yet added to one) has no place: its address picks one, so such nodes spread too.
  const place = ownShard === undefined ? addressHash(self) : membersOf(map, ownShard).indexOf(self);
  const first = place % members.length;
  return members.map((_, i) => members[(first + i) % members.length]!);
}

function addressHash(address: Address): number {
  let hash = 0;
  for (let i = 0; i < address.length; i++) hash = (hash * 31 + address.charCodeAt(i)) >>> 0;
  return hash;
}

/** How long a member that did not answer a forwarded request is tried after the others. */
const unansweredForMs = 10_000;

/**
 * Members of other shards that did not answer a forwarded request lately (down, or cut off): they
 * are tried last, so one dead member costs one request its timeout, not every request. Bounded by
 * the cluster's size (entries are per address, and answered ones leave).
 */
export class UnansweredMembers {
  private readonly since = new Map<Address, number>();

  failed(member: Address, now: number): void {
    this.since.set(member, now);
  }

  answered(member: Address): void {
    this.since.delete(member);
  }

  /** `members` in their order, the ones that did not answer in the last `unansweredForMs` moved to the end. */
  lastOf(members: readonly Address[], now = Date.now()): Address[] {
    if (this.since.size === 0) return [...members];
    const quiet = (member: Address) => {
      const at = this.since.get(member);
      return at !== undefined && now - at < unansweredForMs;
    };
    return [...members.filter((member) => !quiet(member)), ...members.filter(quiet)];
  }
}
