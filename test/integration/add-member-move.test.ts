// PUT /shard/add-member/<id> of a node that is a member of another shard (the contract answers 200
// or 404, never a refusal): the node moves. It starts a new life in its new shard and pulls that
// shard's data; its old shard goes on with the members it has left, and no key is lost.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { membersOf, shardOfKey } from '../../events/shard-map.ts';
import { stopAll, type ReplicaProcess } from '../support/cluster.ts';
import { get, put, request, waitFor } from '../support/http.ts';
import { shardMapAt, sixShardedNodes } from '../support/reshard-setup.ts';

const replicas: ReplicaProcess[] = [];
/** The nodes, and the members shard 2 has left after the first test. */
let cluster: { nodes: string[]; staying: string[] } | undefined;
test.after(async () => {
  await stopAll(replicas);
});

test('a member of shard 2 added to shard 1 moves there, pulls its data, and every key still reads back', async () => {
  const { nodes, before: map } = await sixShardedNodes(replicas, 82, 2, 3);
  const written: { key: string; metadata: unknown }[] = [];
  for (let i = 0; i < 60; i++) {
    const answer = await put(nodes[i % 6]!, `move-${i}`, i);
    assert.is(answer.status, 201, JSON.stringify(answer.body));
    written.push({ key: `move-${i}`, metadata: answer.body['causal-metadata'] });
  }
  const [moving, ...staying] = membersOf(map, 2);
  cluster = { nodes, staying };
  const asked = nodes.find((node) => node !== moving)!;
  const answer = await request('PUT', asked, '/shard/add-member/1', { 'socket-address': moving }, { timeoutMs: 30_000 });
  assert.equal([answer.status, answer.body], [200, { result: 'node added to shard' }]);

  await waitFor('every node to follow the map with the move', async () => {
    const maps = await Promise.all(nodes.map((node) => shardMapAt(node)));
    return maps.every((seen) => seen.epoch === map.epoch + 1);
  }, 10_000);
  const after = await shardMapAt(asked);
  assert.equal(membersOf(after, 1), [...membersOf(map, 1), moving!].sort());
  assert.equal(membersOf(after, 2), staying);
  assert.is((await request('GET', moving!, '/shard/node-shard-id')).body['node-shard-id'], 1);

  for (const [i, { key, metadata }] of written.entries()) {
    const read = await get(nodes[(i + 1) % 6]!, key, metadata);
    assert.equal([read.status, read.body.value], [200, i], `${key} after the move`);
  }
  // The moved node holds its new shard's keys (it pulled them), and none of its old shard's.
  const shard1Keys = written.filter(({ key }) => shardOfKey(after, key) === 1).length;
  await waitFor('the moved node to hold shard 1\'s keys', async () => (await request('GET', moving!, '/shard/key-count/1')).body['shard-key-count'] === shard1Keys, 10_000);
  const state = (await request('GET', moving!, '/debug/state')).body.sharding;
  assert.is(state.shardKeys, shard1Keys);
});

test("the last live member of a shard is not moved (409): the map's other member is down, and its keys would be lost", async () => {
  const { nodes, staying } = cluster!;
  const [down, last] = staying as [string, string];
  await replicas.find((replica) => replica.address === down)!.kill('SIGKILL');
  await waitFor(`${last} to see ${down} gone`, async () => !((await request('GET', last, '/internal/shard/status')).body.live as string[]).includes(down), 10_000);
  const refused = await request('PUT', nodes.find((node) => node !== last)!, '/shard/add-member/1', { 'socket-address': last }, { timeoutMs: 30_000 });
  assert.equal([refused.status, refused.body], [409, { error: `${last} is the last live member of shard 2: moving it would lose that shard's keys` }]);
  assert.is((await request('GET', last, '/shard/node-shard-id')).body['node-shard-id'], 2);
});

test.run();
