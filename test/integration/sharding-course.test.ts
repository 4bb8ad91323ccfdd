// The course's Assignment 4 flow, as its test file runs it, against real processes from the bundle:
// 6 nodes with SHARD_COUNT=2; 600 keys PUT with chained metadata at node n % 6 (a 503 retried for
// about 1.3 s at most); each GET at node (n + 1) % 6 with no retry; shard key counts and balance; a
// 7th node started without SHARD_COUNT joins shard 1 with add-member; a reshard to 10 is refused;
// a reshard to 3; all 600 keys read back. Plus what docs/API.md "Sharding" adds: "shard-id" in every
// /kvs answer, sorted "shard-members", 404s, and one metadata token across shards.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startReplica, stopAll, type ReplicaProcess } from '../support/cluster.ts';
import { get, put, request, sleep, type Answer } from '../support/http.ts';
import { addressesFor, expectAnswer, isMetadata } from './common.ts';

const KEYS = 600;
const nine = addressesFor('sharding-course', 32, 9);
const all = nine.slice(0, 7);
/** Two more nodes, for two add-members at once (after the course's flow). */
const [eighth, ninth] = nine.slice(7) as [string, string];
const nodes = all.slice(0, 6);
const seventh = all[6]!;
const replicas: ReplicaProcess[] = [];

test.after(async () => {
  await stopAll(replicas);
});

/** The course's retry: a 503 is tried again every 100 ms for about 1.3 s, then its answer stands. */
async function putRetrying(address: string, key: string, value: string, metadata: unknown): Promise<Answer> {
  let answer = await put(address, key, value, metadata);
  for (let tries = 0; answer.status === 503 && tries < 13; tries++) {
    await sleep(100);
    answer = await put(address, key, value, metadata);
  }
  return answer;
}

async function keyCounts(address: string): Promise<Map<number, number>> {
  const ids = await request('GET', address, '/shard/ids');
  assert.is(ids.status, 200);
  const counts = new Map<number, number>();
  for (const id of ids.body['shard-ids'] as number[]) {
    const answer = await request('GET', address, `/shard/key-count/${id}`);
    assert.is(answer.status, 200, `key-count ${id}: ${JSON.stringify(answer.body)}`);
    counts.set(id, answer.body['shard-key-count']);
  }
  return counts;
}

function assertBalanced(counts: Map<number, number>, total: number, what: string): void {
  const sum = [...counts.values()].reduce((a, b) => a + b, 0);
  assert.is(sum, total, `${what}: key counts ${JSON.stringify([...counts])} add up to ${sum}`);
  const fair = total / counts.size;
  for (const [id, count] of counts) assert.ok(Math.abs(count - fair) <= 0.25 * fair, `${what}: shard ${id} holds ${count} of ${total} keys`);
}

let metadata: unknown = null;

test('6 nodes with SHARD_COUNT=2 form 2 shards of 3, listed sorted, the same at every node', async () => {
  for (const address of nodes) replicas.push(await startReplica({ address, view: nodes, env: { SHARD_COUNT: '2' } }));
  const ids = await request('GET', nodes[0]!, '/shard/ids');
  expectAnswer(ids, 200, { 'shard-ids': [1, 2] });
  const members: string[][] = [];
  for (const id of [1, 2]) {
    const answer = await request('GET', nodes[3]!, `/shard/members/${id}`);
    assert.is(answer.status, 200);
    const list = answer.body['shard-members'] as string[];
    assert.is(list.length, 3);
    members.push(list);
  }
  assert.equal([...members.flat()].sort(), [...nodes].sort(), 'every node in exactly one shard');
  for (const address of nodes) {
    for (const id of [1, 2]) expectAnswer(await request('GET', address, `/shard/members/${id}`), 200, { 'shard-members': members[id - 1] });
    const own = await request('GET', address, '/shard/node-shard-id');
    assert.is(own.status, 200);
    assert.ok(members[own.body['node-shard-id'] - 1]!.includes(address), `${address} says it is in shard ${own.body['node-shard-id']}`);
  }
  expectAnswer(await request('GET', nodes[0]!, '/shard/members/3'), 404, { error: 'Shard ID does not exist' });
  expectAnswer(await request('GET', nodes[0]!, '/shard/key-count/7'), 404, { error: 'Shard ID does not exist' });
});

test('600 keys PUT with chained metadata at node n % 6, each read at node (n + 1) % 6 with no retry', async () => {
  for (let n = 0; n < KEYS; n++) {
    const answer = await putRetrying(nodes[n % 6]!, `key${n}`, `value${n}`, metadata);
    assert.is(answer.status, 201, `PUT key${n}: ${answer.status} ${JSON.stringify(answer.body)}`);
    assert.is(answer.body.result, 'created');
    assert.ok([1, 2].includes(answer.body['shard-id']), `PUT key${n} names its shard: ${JSON.stringify(answer.body)}`);
    assert.ok(isMetadata(answer.body['causal-metadata']));
    metadata = answer.body['causal-metadata'];
  }
  for (let n = 0; n < KEYS; n++) {
    const answer = await get(nodes[(n + 1) % 6]!, `key${n}`, metadata);
    assert.is(answer.status, 200, `GET key${n}: ${answer.status} ${JSON.stringify(answer.body)}`);
    assert.is(answer.body.result, 'found');
    assert.is(answer.body.value, `value${n}`);
    assert.ok([1, 2].includes(answer.body['shard-id']));
    metadata = answer.body['causal-metadata'];
  }
});

test('HEAD answers as GET at every node, and a refused request names its shard too (a bad body included)', async () => {
  const shardOfKey0 = (await get(nodes[0]!, 'key0', metadata)).body['shard-id'];
  for (const address of nodes) {
    assert.is((await request('HEAD', address, '/kvs/key0')).status, 200, `HEAD key0 at ${address}`);
    assert.is((await request('HEAD', address, '/kvs/never-written')).status, 404, `HEAD never-written at ${address}`);
    const refused = await request('PUT', address, '/kvs/key0', { 'causal-metadata': metadata });
    assert.is(refused.status, 400, `PUT without a value at ${address}`);
    assert.is(refused.body['shard-id'], shardOfKey0, `the 400 at ${address} names the shard: ${JSON.stringify(refused.body)}`);
    const notJson = await request('PUT', address, '/kvs/key0', undefined, { rawBody: '{"value": ' });
    assert.is(notJson.status, 400, `a body that is not JSON at ${address}`);
    assert.is(notJson.body['shard-id'], shardOfKey0, `a refusal before the body is read names the shard too: ${JSON.stringify(notJson.body)}`);
  }
});

test('key counts add up to 600, each shard within 25 % of an even split, the same asked at any node', async () => {
  const counts = await keyCounts(nodes[0]!);
  assertBalanced(counts, KEYS, '2 shards');
  for (const address of nodes.slice(1)) assert.equal(await keyCounts(address), counts, `key counts asked at ${address}`);
});

test('a 7th node started without SHARD_COUNT is in no shard until add-member, then holds its shard\'s keys', async () => {
  replicas.push(await startReplica({ address: seventh, view: [...nodes, seventh] }));
  expectAnswer(await request('GET', seventh, '/shard/node-shard-id'), 200, { 'node-shard-id': null });
  expectAnswer(await request('PUT', nodes[1]!, '/shard/add-member/9', { 'socket-address': seventh }), 404, { error: 'Shard ID does not exist' });
  const added = await request('PUT', nodes[1]!, '/shard/add-member/1', { 'socket-address': seventh });
  expectAnswer(added, 200, { result: 'node added to shard' });
  expectAnswer(await request('GET', seventh, '/shard/node-shard-id'), 200, { 'node-shard-id': 1 });
  const members = (await request('GET', nodes[4]!, '/shard/members/1')).body['shard-members'] as string[];
  assert.ok(members.includes(seventh), `shard 1 lists the 7th node at every node: ${members}`);
  assert.equal(members, [...members].sort((a, b) => a.localeCompare(b, 'en', { numeric: true })));
  const counts = await keyCounts(seventh);
  assert.is(counts.get(1), (await keyCounts(nodes[0]!)).get(1), 'the new member holds shard 1\'s keys');
});

test('a reshard to 10 shards is refused with the course 400 and changes nothing', async () => {
  const answer = await request('PUT', nodes[2]!, '/shard/reshard', { 'shard-count': 10 });
  expectAnswer(answer, 400, { error: 'Not enough nodes to provide fault tolerance with requested shard count' });
  expectAnswer(await request('GET', nodes[0]!, '/shard/ids'), 200, { 'shard-ids': [1, 2] });
});

test('a reshard to 3 shards: 3 shards of at least 2, 600 keys balanced, and every key reads back with the old metadata', async () => {
  const answer = await request('PUT', nodes[2]!, '/shard/reshard', { 'shard-count': 3 }, { timeoutMs: 60_000 });
  expectAnswer(answer, 200, { result: 'resharded' });
  for (const address of [...nodes, seventh]) expectAnswer(await request('GET', address, '/shard/ids'), 200, { 'shard-ids': [1, 2, 3] });
  const listed: string[] = [];
  for (const id of [1, 2, 3]) {
    const members = (await request('GET', seventh, `/shard/members/${id}`)).body['shard-members'] as string[];
    assert.ok(members.length >= 2, `shard ${id}: ${members}`);
    listed.push(...members);
  }
  assert.equal(listed.sort(), [...nodes, seventh].sort());
  assertBalanced(await keyCounts(nodes[5]!), KEYS, '3 shards');
  for (let n = 0; n < KEYS; n++) {
    const answer = await get(all[n % 7]!, `key${n}`, metadata);
    assert.is(answer.status, 200, `GET key${n} after the reshard: ${answer.status} ${JSON.stringify(answer.body)}`);
    assert.is(answer.body.value, `value${n}`);
  }
});

test('two reshards started at once at different nodes: one wins (the other answers 409 or runs after it), every node follows the same map, keys read back (every third)', async () => {
  const [two, three] = await Promise.all([
    request('PUT', nodes[0]!, '/shard/reshard', { 'shard-count': 2 }, { timeoutMs: 60_000 }),
    request('PUT', seventh, '/shard/reshard', { 'shard-count': 3 }, { timeoutMs: 60_000 }),
  ]);
  const statuses = [two.status, three.status];
  assert.ok(statuses.every((status) => status === 200 || status === 409) && statuses.includes(200), `answers: ${JSON.stringify([two.body, three.body])}`);
  if (two.status === 409) assert.match(two.body.error, /in progress|came first/);
  if (three.status === 409) assert.match(three.body.error, /in progress|came first/);
  const layouts = new Set<string>();
  for (const address of all) {
    const ids = (await request('GET', address, '/shard/ids')).body['shard-ids'] as number[];
    const members = await Promise.all(ids.map(async (id) => (await request('GET', address, `/shard/members/${id}`)).body['shard-members']));
    layouts.add(JSON.stringify(members));
  }
  assert.is(layouts.size, 1, `the nodes follow different maps: ${[...layouts].join(' / ')}`);
  for (let n = 0; n < KEYS; n += 3) {
    const answer = await get(all[(n + 3) % 7]!, `key${n}`, metadata);
    assert.is(answer.status, 200, `GET key${n} after the concurrent reshards: ${answer.status} ${JSON.stringify(answer.body)}`);
    assert.is(answer.body.value, `value${n}`);
  }
});

/** Each node's shard members, by shard id, as one string per node. */
async function layoutsSeen(addresses: readonly string[]): Promise<Set<string>> {
  const layouts = new Set<string>();
  for (const address of addresses) {
    const ids = (await request('GET', address, '/shard/ids')).body['shard-ids'] as number[];
    layouts.add(JSON.stringify(await Promise.all(ids.map(async (id) => [id, (await request('GET', address, `/shard/members/${id}`)).body['shard-members']]))));
  }
  return layouts;
}

test('two add-members at once at different nodes: both nodes end in their shards, and every node follows the same map', async () => {
  const everyone = [...all, eighth, ninth];
  for (const address of [eighth, ninth]) replicas.push(await startReplica({ address, view: everyone }));
  const [a, b] = await Promise.all([
    request('PUT', nodes[0]!, '/shard/add-member/1', { 'socket-address': eighth }, { timeoutMs: 30_000 }),
    request('PUT', nodes[1]!, '/shard/add-member/2', { 'socket-address': ninth }, { timeoutMs: 30_000 }),
  ]);
  expectAnswer(a, 200, { result: 'node added to shard' });
  expectAnswer(b, 200, { result: 'node added to shard' });
  let layouts = new Set<string>();
  for (let tries = 0; tries < 20; tries++) {
    layouts = await layoutsSeen(everyone);
    if (layouts.size === 1) break;
    await sleep(500);
  }
  assert.is(layouts.size, 1, `the nodes follow different maps: ${[...layouts].join(' / ')}`);
  expectAnswer(await request('GET', eighth, '/shard/node-shard-id'), 200, { 'node-shard-id': 1 });
  expectAnswer(await request('GET', ninth, '/shard/node-shard-id'), 200, { 'node-shard-id': 2 });
});

test('a node a client removes from the view (DELETE /view) leaves every node\'s view and its shard, and stays out, a node restarted with it in its VIEW included', async () => {
  const gone = nodes[5]!;
  await replicas.find((replica) => replica.address === gone)!.kill('SIGKILL');
  const removed = await request('DELETE', nodes[0]!, '/view', { 'socket-address': gone });
  assert.is(removed.status, 200, JSON.stringify(removed.body));
  const left = all.filter((address) => address !== gone);
  // A node restarted with a VIEW that still lists the removed node does not bring it back either.
  const restarted = nodes[4]!;
  const index = replicas.findIndex((replica) => replica.address === restarted);
  await replicas[index]!.kill('SIGKILL');
  replicas[index] = await startReplica({ address: restarted, view: nodes });
  await sleep(4500); // past two rounds of map gossip (every 2 s): nothing brings it back
  for (const address of left) {
    const view = (await request('GET', address, '/view')).body.view as string[];
    assert.not.ok(view.includes(gone), `${address} still lists ${gone}: ${view}`);
    const ids = (await request('GET', address, '/shard/ids')).body['shard-ids'] as number[];
    for (const id of ids) assert.not.ok(((await request('GET', address, `/shard/members/${id}`)).body['shard-members'] as string[]).includes(gone));
  }
});

test('no node found writes a reshard did not take: each took part in every reshard, so there is nothing to hand on', () => {
  for (const replica of replicas) assert.not.match(replica.logs(), /reshard-writes-stranded|handoff-/, `${replica.address} stranded writes`);
});

test.run();
