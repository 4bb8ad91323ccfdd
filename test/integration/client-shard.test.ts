// The client library and the CLI against a sharded store of real processes from the bundle (6 nodes,
// SHARD_COUNT=2, then a reshard to 3): the client learns the map from the public /shard endpoints
// and sends each key straight to a member of its shard (no node forwards anything); when no member
// it knows answers it falls back to any node, which forwards; after a reshard it looks the map up
// again and reads every key; a node down in a shard is passed over for the other member. And a
// store without shards: the client finds /shard/ids missing and behaves as it always did.
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { main } from '../../src/client/cli-main.ts';
import { KvsClient, KvsError, type AttemptEvent, type KvsClientOptions, type ShardMapLookup } from '../../src/client/kvs-client.ts';
import { portBase, startReplica, stopAll, type ReplicaProcess } from '../support/cluster.ts';
import { request } from '../support/http.ts';

const port = portBase('client-shard');
const nodes = Array.from({ length: 6 }, (_, i) => `127.0.63.${i + 1}:${port + i}`);
/** A store of one node without SHARD_COUNT. */
const unsharded = `127.0.63.10:${port + 6}`;
/** A server that lists a made-up shard map (members nobody listens at) and answers 502 to anything else. */
const liar = { host: '127.0.63.20', port: port + 7 };
const nobody = [`127.0.63.201:${port + 8}`, `127.0.63.202:${port + 9}`];
const KEYS = 60;
const keys = Array.from({ length: KEYS }, (_, i) => `key${i}`);

const replicas: ReplicaProcess[] = [];
const clients: KvsClient[] = [];
let liarServer: Server | undefined;
const dir = mkdtempSync(join(tmpdir(), 'kvs-client-shard-test-'));

test.before(async () => {
  // One after another, as the course starts them: each asks the ones before it for the map.
  for (const address of nodes) replicas.push(await startReplica({ address, view: nodes, env: { SHARD_COUNT: '2' } }));
  replicas.push(await startReplica({ address: unsharded, view: [unsharded] }));
});

test.after(async () => {
  for (const client of clients) client.close();
  liarServer?.close();
  await stopAll(replicas);
  rmSync(dir, { recursive: true, force: true });
});

interface Recorded {
  readonly kvs: KvsClient;
  readonly attempts: AttemptEvent[];
  readonly lookups: ShardMapLookup[];
}

function client(options: Partial<KvsClientOptions> & Pick<KvsClientOptions, 'replicas'>): Recorded {
  const attempts: AttemptEvent[] = [];
  const lookups: ShardMapLookup[] = [];
  const kvs = new KvsClient({ shardMapRefreshMs: 200, ...options, onAttempt: (attempt) => attempts.push(attempt), onShardMap: (lookup) => lookups.push(lookup) });
  clients.push(kvs);
  return { kvs, attempts, lookups };
}

/** Shard id -> members, as the nodes list them (asked of `at`). */
async function serverMap(at: string): Promise<Map<number, string[]>> {
  const ids = (await request('GET', at, '/shard/ids')).body['shard-ids'] as number[];
  const map = new Map<number, string[]>();
  for (const id of ids) map.set(id, (await request('GET', at, `/shard/members/${id}`)).body['shard-members'] as string[]);
  return map;
}

/** Requests forwarded to another shard, summed over the nodes (/debug/state "sharding"). */
async function forwarded(): Promise<{ forwarded: number; forwardFailures: number }> {
  let sum = { forwarded: 0, forwardFailures: 0 };
  for (const replica of replicas) {
    if (!replica.running || replica.address === unsharded) continue;
    const { sharding } = (await request('GET', replica.address, '/debug/state')).body;
    sum = { forwarded: sum.forwarded + sharding.forwarded, forwardFailures: sum.forwardFailures + sharding.forwardFailures };
  }
  return sum;
}

/** The client's map as shard id -> members. */
function clientMap(kvs: KvsClient): Map<number, string[]> {
  const map = kvs.shardMap;
  assert.ok(map, `the client knows a shard map: ${JSON.stringify(map)}`);
  return new Map(map.shards.map((shard) => [shard.id, [...shard.members]]));
}

/** The last operation was answered by a member of the shard its answer named: it was not forwarded. */
function assertDirect(kvs: KvsClient, map: Map<number, string[]>, what: string): void {
  const shard = kvs.lastShard;
  assert.ok(shard !== undefined && map.get(shard)?.includes(kvs.lastReplica!), `${what}: answered by ${kvs.lastReplica} for shard ${shard} (${JSON.stringify([...map])})`);
}

// The session of the main client, carried from test to test.
const main1 = client({ replicas: [nodes[0]!] });

test('the client learns the map with GET /shard/ids and /shard/members, and knows an unsharded store by its 404', async () => {
  assert.is(main1.kvs.shardMap, undefined, 'nothing known before the first operation');
  assert.is(await main1.kvs.put('first', 0), 'created');
  assert.equal(main1.lookups.map((lookup) => [lookup.outcome, lookup.replica]), [['sharded', nodes[0]]]);
  assert.equal(clientMap(main1.kvs), await serverMap(nodes[3]!));
  assert.equal(main1.attempts.map((attempt) => attempt.path), ['/kvs/first'], 'onAttempt reports the operation only; the lookup went to onShardMap');

  const { kvs, attempts, lookups } = client({ replicas: [unsharded] });
  assert.is(await kvs.put('u', 1), 'created');
  assert.equal(await kvs.get('u'), { found: true, value: 1 });
  assert.is(await kvs.delete('u'), 'deleted');
  assert.is(kvs.shardMap, null, 'not sharded');
  assert.is(kvs.lastShard, undefined);
  assert.equal(lookups.map((lookup) => lookup.outcome), ['unsharded'], 'one lookup, never repeated');
  assert.equal(attempts.map((attempt) => [attempt.method, attempt.path, attempt.replica, attempt.outcome]), [
    ['PUT', '/kvs/u', unsharded, 201],
    ['GET', '/kvs/u', unsharded, 200],
    ['DELETE', '/kvs/u', unsharded, 200],
  ]);
  assert.equal((await kvs.shards()).shards, null);
});

test(`${KEYS} keys written and read through the client go straight to a member of their shard: no node forwards`, async () => {
  const before = await forwarded();
  const map = clientMap(main1.kvs);
  main1.attempts.length = 0;
  for (const [i, key] of keys.entries()) {
    assert.is(await main1.kvs.put(key, `value${i}`), 'created');
    assertDirect(main1.kvs, map, `PUT ${key}`);
  }
  const shardsSeen = new Set<number>();
  for (const [i, key] of keys.entries()) {
    assert.equal(await main1.kvs.get(key), { found: true, value: `value${i}` });
    assertDirect(main1.kvs, map, `GET ${key}`);
    shardsSeen.add(main1.kvs.lastShard!);
  }
  assert.equal([...shardsSeen].sort(), [1, 2], 'keys of both shards');
  assert.is(main1.attempts.length, 2 * KEYS, 'one request per operation');
  assert.equal(await forwarded(), before, 'no node forwarded a request');
  assert.is(main1.lookups.length, 1, 'the map was not looked up again');
});

test('the CLI routes get/put/delete the same way and lists the shards with their key counts', async () => {
  const env = { KVS_REPLICAS: nodes[5]!, KVS_SESSION: join(dir, 'session.json') };
  const run = async (...args: string[]) => {
    let stdout = '';
    let stderr = '';
    const code = await main(args, env, { out: (line) => (stdout += `${line}\n`), err: (line) => (stderr += `${line}\n`) });
    return { code, stdout, stderr };
  };
  const before = await forwarded();
  const map = await serverMap(nodes[0]!);
  const put = await run('--json', 'put', 'cli-key', '7');
  assert.is(put.code, 0, put.stderr);
  const answer = JSON.parse(put.stdout);
  assert.is(answer.result, 'created');
  assert.ok(map.get(answer['shard-id'])?.includes(answer.replica), `answered by a member of its shard: ${put.stdout}`);
  assert.equal((await run('get', 'cli-key')).stdout, 'cli-key = 7\n');
  assert.equal((await run('delete', 'cli-key')).stdout, 'deleted cli-key\n');
  assert.equal(await forwarded(), before, 'no node forwarded a request of the CLI');

  const listed = JSON.parse((await run('--json', 'shards')).stdout);
  assert.is(listed.sharded, true);
  assert.equal(
    listed.shards.map((shard: { id: number; members: string[] }) => [shard.id, shard.members]),
    [...map],
  );
  const total = listed.shards.reduce((sum: number, shard: { keyCount: number }) => sum + shard.keyCount, 0);
  assert.is(total, KEYS + 1, `key counts ${JSON.stringify(listed.shards)} add up to the keys written (and "first")`);
  const human = await run('shards');
  assert.is(human.code, 0);
  assert.equal(
    human.stdout.trimEnd().split('\n'),
    listed.shards.map((shard: { id: number; members: string[]; keyCount: number }) => `shard ${shard.id} (${shard.keyCount} keys): ${shard.members.join(' ')}`),
  );
  const plain = await main(['shards'], { KVS_REPLICAS: unsharded }, { out: (line) => assert.is(line, 'not sharded: every replica holds every key'), err: () => undefined });
  assert.is(plain, 0);
});

test('no member of the key\'s shard answers: the client falls back to another node, which forwards, and looks the map up again', async () => {
  // The liar lists the real ids with members nobody listens at; the client asks it first.
  liarServer = createServer((req, res) => {
    const match = /^\/shard\/members\/(\d+)$/.exec(req.url ?? '');
    const body = req.url === '/shard/ids' ? { 'shard-ids': [1, 2] } : match ? { 'shard-members': [nobody[Number(match[1]) - 1]] } : { error: 'not here' };
    res.writeHead(req.url === '/shard/ids' || match ? 200 : 502, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => liarServer!.listen(liar.port, liar.host, resolve));
  const { kvs, attempts, lookups } = client({ replicas: [`${liar.host}:${liar.port}`, nodes[1]!], metadata: main1.kvs.metadata });
  const before = await forwarded();
  assert.equal(await kvs.get('key0'), { found: true, value: 'value0' });
  assert.equal(lookups.map((lookup) => [lookup.outcome, lookup.replica]), [['sharded', `${liar.host}:${liar.port}`]]);
  const shard = kvs.lastShard!;
  assert.equal(
    attempts.map((attempt) => [attempt.replica, attempt.outcome]).slice(0, 3),
    [
      [nobody[shard - 1], 'unreachable'],
      [`${liar.host}:${liar.port}`, 502],
      [nodes[1], 200],
    ],
    'the member first, then the given nodes in order',
  );
  assert.is((await forwarded()).forwarded, before.forwarded + ((await serverMap(nodes[0]!)).get(shard)!.includes(nodes[1]!) ? 0 : 1), 'nodes[1] forwarded unless it holds the key');

  // An answer from outside the key's shard made the map stale: the next operation looks it up again, from a node that answered.
  await new Promise((resolve) => setTimeout(resolve, 250));
  assert.equal(await kvs.get('key1'), { found: true, value: 'value1' });
  assert.is(lookups.length, 2);
  assert.equal(lookups[1]!.outcome, 'sharded');
  assert.equal(clientMap(kvs), await serverMap(nodes[0]!), 'the real map now');
  assertDirect(kvs, await serverMap(nodes[0]!), 'GET key1');
});

test('after a reshard 2 -> 3 the client finds its map stale, looks it up again, reads every key, and goes straight to the shards again', async () => {
  const answer = await request('PUT', nodes[2]!, '/shard/reshard', { 'shard-count': 3 }, { timeoutMs: 60_000 });
  assert.is(answer.status, 200, JSON.stringify(answer.body));
  const map = await serverMap(nodes[0]!);
  assert.equal([...map.keys()], [1, 2, 3]);
  const lookupsBefore = main1.lookups.length;
  for (const [i, key] of keys.entries()) assert.equal(await main1.kvs.get(key), { found: true, value: `value${i}` }, `${key} after the reshard`);
  const refreshes = main1.lookups.slice(lookupsBefore);
  assert.ok(refreshes.length >= 1 && refreshes.length <= 3, `looked the map up again, a bounded number of times: ${JSON.stringify(refreshes)}`);
  assert.equal(clientMap(main1.kvs), map, 'the client routes by the new map');

  const before = await forwarded();
  main1.attempts.length = 0;
  for (const [i, key] of keys.entries()) {
    assert.equal(await main1.kvs.get(key), { found: true, value: `value${i}` });
    assertDirect(main1.kvs, map, `GET ${key} after the refresh`);
  }
  assert.is(main1.attempts.length, KEYS);
  assert.equal(await forwarded(), before, 'no node forwarded a request once the client knew the new map');
});

test('a member down is passed over for the other; a shard with every member down ends unavailable after trying the other nodes', async () => {
  const map = await serverMap(nodes[0]!);
  const key = 'key0';
  assert.equal(await main1.kvs.get(key), { found: true, value: 'value0' });
  const shard = main1.kvs.lastShard!;
  const [first, second] = map.get(shard)!;
  await replicas.find((replica) => replica.address === first)!.kill('SIGKILL');
  main1.attempts.length = 0;
  for (let i = 0; i < 3; i++) assert.equal(await main1.kvs.get(key), { found: true, value: 'value0' });
  const kvsAttempts = main1.attempts.filter((attempt) => attempt.path === `/kvs/${key}`);
  assert.ok(kvsAttempts.every((attempt) => attempt.replica === first || attempt.replica === second), JSON.stringify(main1.attempts));
  assert.is(main1.kvs.lastReplica, second, 'the other member answered');

  await replicas.find((replica) => replica.address === second)!.kill('SIGKILL');
  const { kvs, attempts } = client({ replicas: [nodes.find((node) => !map.get(shard)!.includes(node))!], metadata: main1.kvs.metadata, retry: { attemptsMax: 6, delayMsMin: 20, delayMsMax: 50, totalMsMax: 5000 } });
  let error: unknown;
  try {
    await kvs.get(key);
  } catch (caught) {
    error = caught;
  }
  assert.instance(error, KvsError);
  assert.is((error as KvsError).kind, 'unavailable');
  const outcomes = attempts.map((attempt) => [map.get(shard)!.includes(attempt.replica) ? 'member' : 'other', attempt.outcome, attempt.detail]);
  assert.equal(outcomes.slice(0, 2).map(([who, outcome]) => [who, outcome]), [['member', 'unreachable'], ['member', 'unreachable']], JSON.stringify(outcomes));
  assert.ok(outcomes.slice(2).some(([who, outcome, detail]) => who === 'other' && outcome === 503 && detail === 'shard unavailable'), JSON.stringify(outcomes));
});

test.run();
