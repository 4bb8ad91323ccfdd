import { groupTag, parseAddress, type Address } from './ids.ts';
import { defaultLimits } from './limits.ts';
import { isPlainObject } from './parse-event.ts';
import { ValidationError } from './validation-error.ts';

/**
 * The shard map (the course's Assignment 4; docs/API.md "Sharding"): which nodes form which shard,
 * and which shard holds a key. Pure data and pure functions, no I/O: every node computes the same
 * map from the same inputs, and the same shard for a key from the map alone.
 *
 * - Shard ids are 1..n, always contiguous (docs/API.md does not fix them; 1-based ids keep 0, a
 *   falsy value, out of `{"node-shard-id": ...}` answers, and match "shard 1 of n" in the course's
 *   wording). A reshard to m keeps ids 1..min(n, m), adds m+1.. or drops the highest ids.
 * - Members of a shard are sorted as people read addresses (`compareAddresses` below).
 * - `epoch` starts at 1 (0 is free to mean "no map yet") and grows by one per change.
 * - At least two nodes per shard when a map is made or resharded; a node that leaves the view
 *   (`removeNode`) may leave a shard with fewer until the next reshard or add-member.
 */
export interface Shard {
  readonly id: number;
  /** Sorted by `compareAddresses`, no duplicates. */
  readonly members: readonly Address[];
  /**
   * The epoch this shard was formed at: with the id, the tag of its replica group (events/ids.ts
   * `groupTag`). A shard removed by a reshard and made again later is another group, whose lives
   * owe nothing to the old one's.
   */
  readonly since: number;
}

export interface ShardMap {
  /** The map's version: every change makes the next one; nodes agree on a map by its epoch. */
  readonly epoch: number;
  /** Ordered by id, ids 1..shards.length. Plain data: `JSON.stringify` is its wire form. */
  readonly shards: readonly Shard[];
}

/** What `shardOfKey` reads of a map: the shards' ids, nothing else. */
export interface ShardIdsOnly {
  readonly shards: readonly Pick<Shard, 'id'>[];
}

/** The course's 400 answer to a reshard (or a start) that would leave fewer than two nodes in a shard. */
export const notEnoughNodesMessage = 'Not enough nodes to provide fault tolerance with requested shard count';
/** The course's 404 answer for an id that names no shard. */
export const unknownShardMessage = 'Shard ID does not exist';

/**
 * Orders addresses as people read them (127.0.0.2 before 127.0.0.10): the collator of
 * src/core/membership.ts `compareAddresses` (events/ may not import from src/), with a tiebreak
 * on code units. The numeric collator alone calls distinct addresses equal ("h:80" and "h:080",
 * "a1:80" and "a01:80"), and a sort would then keep the input order: two nodes given the same
 * view in different orders would make different maps.
 */
const collate = new Intl.Collator('en', { numeric: true }).compare;
export function compareAddresses(a: Address, b: Address): number {
  return collate(a, b) || (a < b ? -1 : a > b ? 1 : 0);
}

/** The shards of the sorted view: node i (0-based, sorted) goes to shard (i mod n) + 1. Refuses fewer than 2 nodes per shard (400). */
export function initialShardMap(view: readonly Address[], shardCount: number): ShardMap {
  const nodes = sortedUnique(view);
  checkShardCount(shardCount, nodes.length);
  const members: Address[][] = Array.from({ length: shardCount }, () => []);
  nodes.forEach((node, i) => members[i % shardCount]!.push(node));
  return freezeMap(1, members, []);
}

/**
 * The shard that holds `key`: rendezvous (highest random weight) hashing over the shard ids. Each
 * shard scores the key and the highest score wins (ties, never seen in practice, to the lower id).
 * A shard added or removed changes only the keys it wins or held: a reshard n -> n+1 moves about
 * 1/(n+1) of the keys, all of them into the new shard.
 *
 * The score: the key's UTF-16 code units are hashed once by cyrb53 (two 32-bit lanes mixed with
 * Math.imul, then its avalanche finaliser; no BigInt, no allocation), each lane is xored with a
 * per-shard constant (the id times an odd constant), and cyrb53's finaliser (a bijection on 64
 * bits) is applied again; the score is the 53 bits a double holds. Measured by
 * scripts/shard-balance.mjs (K = 100,000 keys, n = 2..8): every shard within 2.3 % of K/n, and a
 * reshard n -> n+1 moves 1/(n+1) of the keys to within 0.3 points. Changing any constant here moves
 * most keys to another shard: test/unit/shard-map.test.ts pins some keys' shards.
 * Code units, not code points or bytes: every node sees the same JavaScript string for a key.
 * Only the shard ids count: a client that knows the ids alone (src/client/shard-routing.ts) computes
 * the same shard as every node.
 */
export function shardOfKey(map: ShardIdsOnly, key: string): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < key.length; i++) {
    const unit = key.charCodeAt(i);
    h1 = Math.imul(h1 ^ unit, 2654435761);
    h2 = Math.imul(h2 ^ unit, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);

  let best = 0;
  let bestScore = -1;
  for (const { id } of map.shards) {
    let a = h1 ^ Math.imul(id, 0x9e3779b1);
    let b = h2 ^ Math.imul(id, 0x85ebca77);
    a = Math.imul(a ^ (a >>> 16), 2246822507);
    a ^= Math.imul(b ^ (b >>> 13), 3266489909);
    b = Math.imul(b ^ (b >>> 16), 2246822507);
    b ^= Math.imul(a ^ (a >>> 13), 3266489909);
    const score = 4294967296 * (b & 0x1fffff) + (a >>> 0);
    if (score > bestScore) {
      best = id;
      bestScore = score;
    }
  }
  return best;
}

/** Whether every key has the same shard under both maps: only the shard ids place keys (shardOfKey). */
export function placesKeysAlike(a: ShardIdsOnly, b: ShardIdsOnly): boolean {
  const ids = new Set(a.shards.map((shard) => shard.id));
  return a.shards.length === b.shards.length && b.shards.every((shard) => ids.has(shard.id));
}

/** The ids, in order: `{"shard-ids": shardIds(map)}`. */
export function shardIds(map: ShardMap): number[] {
  return map.shards.map((shard) => shard.id);
}

/** The sorted members of shard `id`; 404 "Shard ID does not exist" when there is none. */
export function membersOf(map: ShardMap, id: number): readonly Address[] {
  return shardById(map, id).members;
}

/** The id of the shard `address` belongs to, or undefined when it belongs to none. */
export function shardOfNode(map: ShardMap, address: Address): number | undefined {
  return map.shards.find((shard) => shard.members.includes(address))?.id;
}

/**
 * The next map for `newCount` shards over `view` (every node of the view gets a shard; members not
 * in the view leave). Deterministic from (map, view as a set, newCount). Refuses fewer than 2 nodes
 * per shard (400), and a count that is not a positive integer (400).
 *
 * Shard sizes end balanced (they differ by at most one), with as few nodes moving as that allows:
 * - shards 1..min(n, newCount) keep their members that are in the view; the larger ones get the
 *   larger targets (ties to the lower id), which keeps the most nodes in place;
 * - a shard over its target gives its last members (in address order) to a pool, with the nodes of
 *   removed shards (ids above newCount) and the nodes of the view in no shard;
 * - shards under their target (new shards, and the smallest, first) take from the pool in address order.
 * So from a balanced map over the same view, n -> n+1 moves only the nodes that fill the new shard,
 * taken from the largest shards, and n -> n-1 only the removed shard's nodes, to the smallest shards.
 */
export function reshard(map: ShardMap, view: readonly Address[], newCount: number): ShardMap {
  const nodes = sortedUnique(view);
  checkShardCount(newCount, nodes.length);
  const inView = new Set(nodes);
  const members: Address[][] = [];
  for (let id = 1; id <= newCount; id++) {
    members.push(map.shards.find((shard) => shard.id === id)?.members.filter((node) => inView.has(node)) ?? []);
  }
  const placed = new Set(members.flat());
  const pool = nodes.filter((node) => !placed.has(node));

  const base = Math.floor(nodes.length / newCount);
  const larger = nodes.length % newCount;
  const bySizeDown = members.map((_, i) => i).sort((i, j) => members[j]!.length - members[i]!.length || i - j);
  const target: number[] = [];
  bySizeDown.forEach((shard, rank) => (target[shard] = base + (rank < larger ? 1 : 0)));

  for (const [i, shard] of members.entries()) pool.push(...shard.splice(target[i]!));
  pool.sort(compareAddresses);
  let next = 0;
  const bySizeUp = members.map((_, i) => i).sort((i, j) => members[i]!.length - members[j]!.length || i - j);
  for (const i of bySizeUp) {
    const shard = members[i]!;
    while (shard.length < target[i]!) shard.push(pool[next++]!);
  }
  return freezeMap(map.epoch + 1, members, sinceOf(map));
}

/**
 * `address` joins shard `id` (epoch + 1). 404 "Shard ID does not exist" for an unknown id. A member
 * of another shard moves: it leaves that shard (the contract knows no refusal here), unless it is
 * its last member, whose keys would be lost with it (409). A node already in that shard: the same
 * map, unchanged. Whether the node is in the view is the caller's check (the map does not know the view).
 */
export function addMember(map: ShardMap, id: number, address: Address): ShardMap {
  shardById(map, id);
  const current = shardOfNode(map, address);
  if (current === id) return map;
  if (current !== undefined && membersOf(map, current).length === 1) {
    throw new ValidationError(`${address} is the last member of shard ${current}: moving it would lose that shard's keys`, 409);
  }
  return freezeMap(
    map.epoch + 1,
    map.shards.map((shard) => (shard.id === id ? [...shard.members, address] : shard.members.filter((node) => node !== address))),
    sinceOf(map),
  );
}

/** The same shards at the next epoch: a change of the cluster's nodes alone (a node of no shard removed), which a newer map carries to every node. */
export function nextEpoch(map: ShardMap): ShardMap {
  return freezeMap(map.epoch + 1, map.shards.map((shard) => shard.members), sinceOf(map));
}

/** A node that left the view leaves its shard (epoch + 1); the same map when it was in none. */
export function removeNode(map: ShardMap, address: Address): ShardMap {
  if (shardOfNode(map, address) === undefined) return map;
  return freezeMap(
    map.epoch + 1,
    map.shards.map((shard) => shard.members.filter((node) => node !== address)),
    sinceOf(map),
  );
}

/**
 * A map as another node sends it (the JSON of a ShardMap). Checks epoch (a positive integer), ids
 * (1..n in order), addresses, and that no node is listed twice; sorts each shard's members. At most
 * `membersMax` nodes in all (the view's bound). Shards with fewer than two members are accepted:
 * `removeNode` makes them.
 */
export function parseShardMap(input: unknown, membersMax = defaultLimits.viewMembersMax): ShardMap {
  if (!isPlainObject(input)) throw new ValidationError('shard map must be an object');
  const { epoch, shards } = input;
  if (typeof epoch !== 'number' || !Number.isSafeInteger(epoch) || epoch < 1) {
    throw new ValidationError('shard map epoch must be a positive integer');
  }
  if (!Array.isArray(shards) || shards.length === 0) throw new ValidationError('shard map shards must be a non-empty array');
  if (shards.length > membersMax) throw new ValidationError(`shard map has too many shards (> ${membersMax})`);
  const seen = new Set<string>();
  const since: number[] = [];
  const members = shards.map((shard: unknown, i) => {
    if (!isPlainObject(shard)) throw new ValidationError('shard map shard must be an object');
    if (shard.id !== i + 1) throw new ValidationError(`shard map shard ${i} must have id ${i + 1}`);
    if (typeof shard.since !== 'number' || !Number.isSafeInteger(shard.since) || shard.since < 1 || shard.since > epoch) {
      throw new ValidationError(`shard ${i + 1} since must be an epoch from 1 to the map's`);
    }
    since.push(shard.since);
    if (!Array.isArray(shard.members)) throw new ValidationError(`shard ${i + 1} members must be an array`);
    return shard.members.map((member: unknown) => {
      const address = parseAddress(member, `shard ${i + 1} member`);
      if (seen.has(address)) throw new ValidationError(`shard map lists ${address} twice`);
      seen.add(address);
      if (seen.size > membersMax) throw new ValidationError(`shard map has too many members (> ${membersMax})`);
      return address;
    });
  });
  return freezeMap(epoch, members, since);
}

function checkShardCount(count: number, nodeCount: number): void {
  if (!Number.isSafeInteger(count) || count < 1) throw new ValidationError('shard-count must be a positive integer');
  if (nodeCount < 2 * count) throw new ValidationError(notEnoughNodesMessage, 400);
}

function shardById(map: ShardMap, id: number): Shard {
  const shard = map.shards.find((candidate) => candidate.id === id);
  if (shard === undefined) throw new ValidationError(unknownShardMessage, 404);
  return shard;
}

function sortedUnique(view: readonly Address[]): Address[] {
  return [...new Set(view)].sort(compareAddresses);
}

/** The formation epochs of a map's shards, by index: kept by every change but a reshard's new shards. */
function sinceOf(map: ShardMap): number[] {
  return map.shards.map((shard) => shard.since);
}

/** Shard i + 1 gets members[i], sorted, formed at since[i] (a shard with none there is new at `epoch`); everything frozen. */
function freezeMap(epoch: number, members: readonly (readonly Address[])[], since: readonly number[]): ShardMap {
  const shards = members.map((list, i) => Object.freeze({ id: i + 1, members: Object.freeze([...list].sort(compareAddresses)), since: since[i] ?? epoch }));
  return Object.freeze({ epoch, shards: Object.freeze(shards) });
}

/** The replica group of shard `id` in `map`: the tag its lives' incarnations carry (events/ids.ts). */
export function groupOfShard(map: ShardMap, id: number): string {
  return groupTag(id, shardById(map, id).since);
}

/** The groups `map` has: a clock entry of any other group names a group that is gone (its keys moved in a reshard). */
export function groupsOf(map: ShardMap): Set<string> {
  return new Set(map.shards.map((shard) => groupTag(shard.id, shard.since)));
}
