// What the reshard tests on real nodes share: six nodes with SHARD_COUNT, the map a reshard would
// make, a key that moves between two given shards, and a wait (bounded) until a write is delivered
// at every member of its shard, instead of a sleep.
import * as assert from 'uvu/assert';
import type { Address } from '../../events/ids.ts';
import { membersOf, parseShardMap, reshard, shardOfKey, type ShardMap } from '../../events/shard-map.ts';
import { startReplica, type ReplicaProcess } from './cluster.ts';
import { get, request, waitFor } from './http.ts';

export async function shardMapAt(address: Address): Promise<ShardMap> {
  return parseShardMap((await request('GET', address, '/internal/shard/map')).body.map);
}

/**
 * Six nodes on 127.0.<net>.1-6 with SHARD_COUNT=`count`, each pushed to `replicas` (the test stops
 * them), and the map a reshard to `nextCount` makes. The first node, n1, stays in shard 1 there.
 */
export async function sixShardedNodes(replicas: ReplicaProcess[], net: number, count: number, nextCount: number): Promise<{ nodes: Address[]; n1: Address; before: ShardMap; next: ShardMap }> {
  const nodes = [1, 2, 3, 4, 5, 6].map((i) => `127.0.${net}.${i}:${27000 + net * 10 + i}`) as Address[];
  for (const address of nodes) replicas.push(await startReplica({ address, view: nodes, env: { SHARD_COUNT: String(count) } }));
  const before = await shardMapAt(nodes[1]!);
  const next = reshard(before, nodes, nextCount);
  const n1 = nodes[0]!;
  assert.ok(next.shards[0]!.members.includes(n1), 'n1 stays in shard 1');
  return { nodes, n1, before, next };
}

/** The first key `<prefix><i>` in shard `from` under `before` and in shard `to` under `next`. */
export function keyMoving(prefix: string, before: ShardMap, next: ShardMap, from: number, to: number): string {
  for (let i = 0; i < 100_000; i++) {
    const key = `${prefix}${i}`;
    if (shardOfKey(before, key) === from && shardOfKey(next, key) === to) return key;
  }
  throw new Error(`no key ${prefix}<i> moves from shard ${from} to ${to}`);
}

/** Waits (bounded) until every member of `key`'s shard under `map` has delivered what `metadata` names and serves `value`. */
export async function heldByShard(map: ShardMap, key: string, metadata: unknown, value: unknown): Promise<void> {
  for (const member of membersOf(map, shardOfKey(map, key))) {
    await waitFor(`${member} to hold ${key}`, async () => {
      const answer = await get(member, key, metadata, { timeoutMs: 2000 });
      return answer.status === 200 && answer.body.value === value;
    }, 10_000);
  }
}
