// A node that misses a reshard's steps (the coordinator's broadcast goes on without the nodes it
// cannot reach) and learns the new map by gossip (PUT /internal/shard/map, ShardedNode.adopt) while
// staying in its group: it must keep the events of the keys that moved into its shard, and a copy
// it kept of a key that left must never come back over a client's later write (found by review,
// fixed in ShardedNode.learnReshardWithoutSteps and importEvents). The imports reach it from its
// group before the map does: their values must join its view when the map arrives (CI found the
// node exiting on an invariant violation there; fixed with core/unowned-keys.ts). The reshard's
// steps are driven by hand through /internal/shard, as reshard-fencing.test.ts does, standing for
// a coordinator whose calls to the first node failed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { shardOfKey, type ShardMap } from '../../events/shard-map.ts';
import { stopAll, type ReplicaProcess } from '../support/cluster.ts';
import { get, put, request, waitFor } from '../support/http.ts';
import { heldByShard, keyMoving, sixShardedNodes } from '../support/reshard-setup.ts';
import type { Address } from '../../events/ids.ts';
import { clockCovers } from '../../events/vector-clock.ts';

const replicas: ReplicaProcess[] = [];
test.after(async () => {
  await stopAll(replicas);
});

const step = (address: string, name: string, next: ShardMap, reshard: string) => request('POST', address, '/internal/shard/reshard', { step: name, next, reshard });

/** The reshard to `next`, by hand, at every node but `missed`: freeze, export, commit, import, ready. */
async function reshardWithout(nodes: Address[], missed: Address, before: ShardMap, next: ShardMap, id: string): Promise<void> {
  const others = nodes.filter((a) => a !== missed);
  for (const a of others) assert.is((await step(a, 'freeze', next, id)).status, 200);
  const moving = new Map<number, { key: string }[]>();
  for (const shard of before.shards) {
    for (const member of shard.members) {
      if (member === missed) continue;
      const page = await request('POST', member, '/internal/shard/export', { next, reshard: id, offset: 0, limit: 10000 });
      assert.is(page.status, 200, JSON.stringify(page.body));
      for (const event of page.body.events) {
        const to = shardOfKey(next, event.key);
        const list = moving.get(to) ?? [];
        if (!list.some((e) => e.key === event.key)) list.push(event);
        moving.set(to, list);
      }
    }
  }
  // All at once, as the coordinator's broadcast does: one by one, a node's gossip could bring the
  // committed map to a node not committed yet, which then learns it without the commit and refuses
  // the reshard's imports (409; the coordinator would try another member, this test has one).
  for (const answer of await Promise.all(others.map((a) => step(a, 'commit', next, id)))) assert.is(answer.status, 200);
  for (const [shard, events] of moving) {
    const member = next.shards[shard - 1]!.members.find((m) => m !== missed)!;
    const answer = await request('POST', member, '/internal/shard/import', { events, reshard: id });
    assert.is(answer.status, 200, JSON.stringify(answer.body));
  }
  for (const a of others) assert.is((await step(a, 'ready', next, id)).status, 200);
  // The imports reach the node that missed the steps from its group's other members before the
  // map does (unless gossip brings the map first): wait until it has delivered what they have.
  const groupmates = next.shards.find((shard) => shard.members.includes(missed))!.members.filter((m) => m !== missed);
  await waitFor(`${missed} to deliver its group's imports`, async () => {
    const mine = (await request('GET', missed, '/debug/state')).body.clock;
    for (const mate of groupmates) if (!clockCovers(mine, (await request('GET', mate, '/debug/state')).body.clock)) return false;
    return true;
  }, 10_000);
  // What gossip does: another node's map reaches the node that missed the steps.
  const state = (await request('GET', others[0]!, '/internal/shard/map')).body;
  const adopted = await request('PUT', missed, '/internal/shard/map', state);
  // The nodes' own gossip (every 2 s, to a node at random) may have brought it first: the same path.
  assert.ok(adopted.body.adopted === true || adopted.body.epoch === next.epoch, JSON.stringify(adopted.body));
}

test('a member that learned the new map by gossip never stores the keys that moved into its shard', async () => {
  const { nodes, n1, before, next } = await sixShardedNodes(replicas, 77, 3, 2);
  assert.equal(before.shards[0]!.members, [nodes[0], nodes[3]]);
  const key = keyMoving('in', before, next, 3, 1);
  const w1 = await put(nodes[2]!, key, 'v1');
  assert.is(w1.status, 201, JSON.stringify(w1.body));
  await heldByShard(before, key, w1.body['causal-metadata'], 'v1'); // the hand-driven export does not quiesce

  await reshardWithout(nodes, n1, before, next, 'R1');
  assert.is((await request('GET', n1, '/shard/node-shard-id')).body['node-shard-id'], 1);

  // The imported value, which n1 delivered before it knew the key was its shard's.
  const imported = await waitFor('n1 to serve the imported key', async () => {
    const answer = await get(n1, key, w1.body['causal-metadata']);
    return answer.status === 503 ? undefined : answer;
  }, 10_000);
  assert.is(imported.status, 200, `n1 answered ${imported.status} ${JSON.stringify(imported.body)}`);
  assert.is(imported.body.value, 'v1');
  const other = nodes[3]!; // the other member of shard 1 that stayed
  const w2 = await put(other, key, 'v2', w1.body['causal-metadata']);
  assert.is(w2.status, 200, JSON.stringify(w2.body));
  const read = await waitFor(
    'n1 to answer without 503',
    async () => {
      const answer = await get(n1, key, w2.body['causal-metadata']);
      return answer.status === 503 ? undefined : answer;
    },
    10_000,
  );
  // Before the fix: 404 "Key does not exist", with metadata that covers the write of v2 at n1's own shard.
  assert.is(read.status, 200, `n1 (a member of the key's shard) answered ${read.status} ${JSON.stringify(read.body)}`);
  assert.is(read.body.value, 'v2');
  await stopAll(replicas.splice(0));
});

test("a member that missed ready re-exports a key that left its shard, over a client's later write", async () => {
  const { nodes, n1, before, next } = await sixShardedNodes(replicas, 78, 2, 3);
  const key = keyMoving('out', before, next, 1, 3);
  const w1 = await put(n1, key, 'old');
  assert.is(w1.status, 201, JSON.stringify(w1.body));
  await heldByShard(before, key, w1.body['causal-metadata'], 'old');

  await reshardWithout(nodes, n1, before, next, 'R1');
  const dest = next.shards[2]!.members[0]!;
  const w2 = await put(dest, key, 'new', w1.body['causal-metadata']);
  assert.is(w2.status, 200, JSON.stringify(w2.body));
  await heldByShard(next, key, w2.body['causal-metadata'], 'new');

  // An operator runs a reshard to the same count (docs/API.md: "An operator may run it"; a
  // later reshard to another count that keeps the key out of shard 1 does the same).
  const again = await request('PUT', nodes[1]!, '/shard/reshard', { 'shard-count': 3 }, { timeoutMs: 60_000 });
  assert.is(again.status, 200, JSON.stringify(again.body));
  const read = await get(dest, key, w2.body['causal-metadata']);
  assert.is(read.status, 200, JSON.stringify(read.body));
  assert.is(read.body.value, 'new', `the acknowledged write of "new" was overwritten: ${JSON.stringify(read.body)}`);
});

test.run();
