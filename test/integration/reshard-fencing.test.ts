// A reshard's steps, exports and imports are taken only for the reshard in progress at a node
// (src/shard/sharded-node.ts, reshard.ts): two coordinators of the same map (two nodes finishing the
// same stalled reshard) cannot both run, and a page of keys that arrives late, after another reshard
// took over or after ready, is refused instead of overwriting what clients wrote since. Driven by hand
// through the nodes' /internal/shard routes, on 4 real nodes with SHARD_COUNT=2.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { reshard as nextMap, shardOfKey, parseShardMap, type ShardMap } from '../../events/shard-map.ts';
import { startReplica, stopAll, type ReplicaProcess } from '../support/cluster.ts';
import { get, put, request, waitFor } from '../support/http.ts';
import { addressesFor } from './common.ts';
import type { Address } from '../../events/ids.ts';

const nodes = addressesFor('reshard-fencing', 33, 4) as Address[];
const replicas: ReplicaProcess[] = [];

test.after(async () => {
  await stopAll(replicas);
});

const step = (address: string, name: string, next: ShardMap, reshard: string) => request('POST', address, '/internal/shard/reshard', { step: name, next, reshard });
const everywhere = (name: string, next: ShardMap, reshard: string) => Promise.all(nodes.map((address) => step(address, name, next, reshard)));

async function currentMap(): Promise<ShardMap> {
  return parseShardMap((await request('GET', nodes[0]!, '/internal/shard/map')).body.map);
}

test('a second reshard to the same map is refused while the first holds the freeze, and cannot thaw or export it', async () => {
  for (const address of nodes) replicas.push(await startReplica({ address, view: nodes, env: { SHARD_COUNT: '2' } }));
  const next = nextMap(await currentMap(), nodes, 2);
  for (const answer of await everywhere('freeze', next, 'A')) assert.is(answer.status, 200, JSON.stringify(answer.body));
  const second = await step(nodes[1]!, 'freeze', next, 'B');
  assert.is(second.status, 409, 'the same map under another reshard id is another reshard');
  assert.is((await request('POST', nodes[1]!, '/internal/shard/export', { next, reshard: 'B', offset: 0, limit: 10 })).status, 409, 'B may not export');
  await everywhere('thaw', next, 'B');
  assert.is((await put(nodes[1]!, 'k', 'v', null)).status, 503, "B's thaw did not end A's freeze: writes still wait");
  const malformed = await request('PUT', nodes[1]!, '/kvs/k', { 'causal-metadata': null });
  assert.is(malformed.status, 400, `bad input is a 400 before a reshard's 503: ${JSON.stringify(malformed.body)}`);
  assert.is((await request('POST', nodes[1]!, '/internal/shard/export', { next, reshard: 'A', offset: 0, limit: 10 })).status, 200, 'A exports');
  await everywhere('thaw', next, 'A');
  assert.is((await put(nodes[1]!, 'k', 'v', null)).status, 201, "A's thaw ends it");
});

test('imports are taken only from the reshard whose keys are arriving, and not after its ready', async () => {
  const before = await currentMap();
  const next = nextMap(before, nodes, 2);
  // A key of shard 1, written now: a late import of an older value must not overwrite it.
  let key = 'fence0';
  for (let i = 1; shardOfKey(next, key) !== 1; i++) key = `fence${i}`;
  const member = next.shards[0]!.members[0]!;
  const written = await put(member, key, 'written by a client', null);
  assert.ok(written.status === 200 || written.status === 201, JSON.stringify(written.body));
  const old = { type: 'put', origin: '127.0.0.9:1/old', seq: 1, key, value: 'a late page', clock: { '127.0.0.9:1/old': 1 } };

  for (const answer of await everywhere('freeze', next, 'A')) assert.is(answer.status, 200);
  for (const answer of await everywhere('commit', next, 'A')) assert.is(answer.status, 200);
  const wrongReshard = await request('POST', member, '/internal/shard/import', { events: [], reshard: 'B' });
  assert.is(wrongReshard.status, 409, `an import of another reshard: ${JSON.stringify(wrongReshard.body)}`);
  assert.is((await request('POST', member, '/internal/shard/import', { events: [], reshard: 'A' })).status, 200, "the committed reshard's import is taken");
  for (const answer of await everywhere('ready', next, 'A')) assert.is(answer.status, 200);
  const late = await request('POST', member, '/internal/shard/import', { events: [old], reshard: 'A' });
  assert.is(late.status, 409, `a page after ready: ${JSON.stringify(late.body)}`);
  const read = await get(nodes[3]!, key, written.body['causal-metadata']);
  assert.is(read.body.value, 'written by a client', 'the client\'s write stands');
});

test('a freeze whose coordinator does not run its reshard (it gave up, and the thaw was lost) ends at every node within seconds', async () => {
  const next = nextMap(await currentMap(), nodes, 2);
  // The id names nodes[0] as coordinator, which runs no such reshard: the others ask it over HTTP, it answers itself.
  const orphaned = `${nodes[0]}/gave-up`;
  const asked = await request('GET', nodes[0]!, `/internal/shard/reshard-running?reshard=${encodeURIComponent(orphaned)}`);
  assert.is(asked.status, 200, JSON.stringify(asked.body));
  assert.equal(asked.body, { running: false });
  assert.is((await request('GET', nodes[0]!, '/internal/shard/reshard-running')).status, 400, 'no reshard named');

  const frozenAt = Date.now();
  for (const answer of await everywhere('freeze', next, orphaned)) assert.is(answer.status, 200);
  assert.is((await put(nodes[1]!, 'orphan', 'v', null)).status, 503, 'frozen at first');
  for (const address of nodes) {
    await waitFor(`${address} to thaw`, async () => (await request('GET', address, '/debug/state')).body.sharding.writesFrozen === false, 10_000, 100);
  }
  assert.ok(Date.now() - frozenAt < 10_000, 'well before the 30 s limit');
  assert.is((await put(nodes[1]!, 'orphan', 'v', null)).status, 201, 'writes go on');
});

test.run();
