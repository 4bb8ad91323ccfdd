import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Address } from '../../events/ids.ts';
import { reshard, shardOfKey, shardOfNode, type ShardMap } from '../../events/shard-map.ts';
import { portBase, stopAll, type ReplicaProcess } from '../support/cluster.ts';
import { exitSoon, hostsOf, startClusterPatiently, watchdog } from '../support/fault-kit.ts';
import { get, put, request, waitFor } from '../support/http.ts';
import { assertPrivateNamespace, healAll, isolate } from '../support/netns.ts';
import { shardMapAt } from '../support/reshard-setup.ts';

// Two nodes cut off from every other node (nft rules both ways; clients still reach them) during a
// reshard. Each one's shard-mates see it gone, so the reshard goes on without it, while it
// acknowledges writes alone (a replica left alone by failure detection answers at once). The
// reshard never saw those writes. One of the two stays in its group, and some of its keys move
// away; the other moves to the new shard, and its old life ends. Once the cut heals, each learns
// the map by gossip and must hand what it took alone to the keys' shards (src/shard/handoff.ts):
// every write either acknowledged reads back, from any node.

assertPrivateNamespace();
watchdog(170_000, 'reshard-isolated-member');

const { hosts, addresses: listed, uids } = hostsOf(6, portBase('reshard-isolated-member'));
const addresses = listed as Address[];
let replicas: ReplicaProcess[] = [];

test.after(async () => {
  healAll();
  await stopAll(replicas);
  exitSoon();
});

const hostOf = (address: Address) => hosts[addresses.indexOf(address)]!;

/** Writes `count` keys of `shard` (under `map`) at `writer`, a few at a time; returns those acknowledged, with their values. */
async function writeAlone(writer: Address, map: ShardMap, shard: number, prefix: string, count: number): Promise<Map<string, number>> {
  const keys: string[] = [];
  for (let i = 0; keys.length < count && i < 100 * count; i++) if (shardOfKey(map, `${prefix}${i}`) === shard) keys.push(`${prefix}${i}`);
  const acked = new Map<string, number>();
  const lanes = 8;
  await Promise.all(
    Array.from({ length: lanes }, async (_, lane) => {
      for (let i = lane; i < keys.length; i += lanes) {
        try {
          const answer = await put(writer, keys[i]!, i, null, { timeoutMs: 5000 });
          if (answer.status === 200 || answer.status === 201) acked.set(keys[i]!, i);
        } catch {
          // unknown outcome: not counted
        }
      }
    }),
  );
  return acked;
}

test('writes that nodes cut off from a reshard acknowledged alone all read back once the cut heals', async () => {
  replicas = await startClusterPatiently(addresses, uids, { SHARD_COUNT: '2' });
  const before = await shardMapAt(addresses[0]!);
  const next = reshard(before, before.shards.flatMap((shard) => shard.members), 3);
  const shard1 = before.shards[0]!.members;
  const shard2 = before.shards[1]!.members;
  // One that stays in shard 2 (its group goes on; keys move away from it), one of shard 1 that moves to the new shard 3.
  const stayer = shard2.find((node) => shardOfNode(next, node) === 2)!;
  const mover = shard1.find((node) => shardOfNode(next, node) === 3)!;
  const coordinator = shard1.find((node) => node !== mover)!;
  assert.ok(stayer !== undefined && mover !== undefined, `a node stays in shard 2 and one moves from 1 to 3: ${JSON.stringify(next.shards)}`);
  for (const cut of [stayer, mover]) isolate(hostOf(cut), hosts.filter((host) => host !== hostOf(cut)));

  // Written alone, before the reshard: each acknowledges once its failure detector has left it alone.
  const [stayerBefore, moverBefore] = await Promise.all([writeAlone(stayer, before, 2, 'stay-', 120), writeAlone(mover, before, 1, 'move-', 120)]);
  assert.ok(stayerBefore.size > 0 && moverBefore.size > 0, `the cut-off nodes took writes (${stayerBefore.size}, ${moverBefore.size})`);

  // Their shard-mates see them gone within a few seconds: until then the reshard refuses (503).
  const done = await waitFor(
    'a reshard without the two cut-off nodes',
    async () => {
      const answer = await request('PUT', coordinator, '/shard/reshard', { 'shard-count': 3 }, { timeoutMs: 60_000 });
      return answer.status !== 503 && answer;
    },
    40_000,
    1000,
  );
  assert.is(done.status, 200, `the reshard answered ${done.status} ${JSON.stringify(done.body)}`);
  // Still cut off, they do not know the new map: they go on acknowledging writes alone.
  const [stayerAfter, moverAfter] = await Promise.all([writeAlone(stayer, before, 2, 'stay-late-', 40), writeAlone(mover, before, 1, 'move-late-', 40)]);
  const acked = new Map([...stayerBefore, ...moverBefore, ...stayerAfter, ...moverAfter]);
  const moved = [...acked.keys()].filter((key) => shardOfKey(before, key) !== shardOfKey(next, key)).length;
  assert.ok(moved > 0 && moved < acked.size, `some of the writes are of keys that moved (${moved} of ${acked.size})`);

  healAll();
  const others = addresses.filter((address) => address !== stayer && address !== mover);
  let missing: string[] = [];
  await waitFor(
    'every acknowledged write to read back',
    async () => {
      missing = [];
      let at = 0;
      for (const [key, value] of acked) {
        const reader = others[at++ % others.length]!;
        const answer = await get(reader, key, null, { timeoutMs: 5000 }).catch(() => undefined);
        if (answer?.status !== 200 || answer.body.value !== value) missing.push(`${key}: ${answer?.status} ${JSON.stringify(answer?.body?.value)}`);
      }
      return missing.length === 0;
    },
    60_000,
    1000,
  ).catch(() => undefined);
  assert.equal(missing, [], `${missing.length} of ${acked.size} writes acknowledged by the cut-off nodes are gone`);
  for (const address of addresses) assert.is((await shardMapAt(address)).epoch, next.epoch, `${address} follows the new map`);
});

test.run();
