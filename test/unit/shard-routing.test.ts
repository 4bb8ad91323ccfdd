// The client's routing decisions in a sharded store (src/client/shard-routing.ts): parsing the public
// /shard answers, the shard of a key (the servers' own), the order nodes are tried in, and when the
// map is looked up again (stale answers, 503 shard unavailable, age), bounded in time.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Address } from '../../events/ids.ts';
import { initialShardMap, reshard, shardOfKey } from '../../events/shard-map.ts';
import { isReplicaAddress } from '../../src/client/kvs-client.ts';
import { parseShardIds, parseShardMembers, routeOrder, ShardRouting, type ClientShardMap } from '../../src/client/shard-routing.ts';

const nodes = Array.from({ length: 6 }, (_, i) => `10.0.0.${i + 1}:8090`);
const serverMap = initialShardMap(nodes as Address[], 2);
/** The map as a client learns it: ids and members only. */
const toClient = (map: { shards: readonly { id: number; members: readonly string[] }[] }): ClientShardMap => ({
  shards: map.shards.map(({ id, members }) => ({ id, members: [...members] })),
});
const map = toClient(serverMap);
const keys = Array.from({ length: 200 }, (_, i) => `key${i}`);
/** A key of each shard. */
const keyOf = (shard: number) => keys.find((key) => shardOfKey(map, key) === shard)!;
const membersOf = (shard: number) => map.shards.find((candidate) => candidate.id === shard)!.members;
const up = () => false;
const options = { refreshMs: 1000, maxAgeMs: 60_000 };

test('parseShardIds: a non-empty list of distinct positive integers, else undefined', () => {
  assert.equal(parseShardIds({ 'shard-ids': [1, 2] }), [1, 2]);
  for (const bad of [[], [0], [1, 1], [1.5], ['1'], null, 'x']) assert.is(parseShardIds({ 'shard-ids': bad }), undefined, JSON.stringify(bad));
  assert.is(parseShardIds({ error: 'No such endpoint: GET /shard/ids' }), undefined);
});

test('parseShardMembers: addresses only; an empty shard is a shard', () => {
  assert.equal(parseShardMembers({ 'shard-members': ['10.0.0.1:8090'] }, isReplicaAddress), ['10.0.0.1:8090']);
  assert.equal(parseShardMembers({ 'shard-members': [] }, isReplicaAddress), []);
  for (const bad of [['10.0.0.1'], [5], 'x', undefined]) assert.is(parseShardMembers({ 'shard-members': bad }, isReplicaAddress), undefined, JSON.stringify(bad));
});

test('the client computes the servers\' shard from the ids alone, before and after a reshard', () => {
  const next = reshard(serverMap, nodes as Address[], 3);
  for (const key of keys) {
    assert.is(routeOrder(map, key, [], up).shard, shardOfKey(serverMap, key), key);
    assert.is(routeOrder(toClient(next), key, [], up).shard, shardOfKey(next, key), key);
  }
  assert.ok(keyOf(1) !== undefined && keyOf(2) !== undefined, 'both shards hold some of the keys');
});

test('a key goes to its shard\'s members first, then to every other node (the given ones first), down ones last', () => {
  const key = keyOf(1);
  const given = ['10.0.0.9:8090', nodes[1]!];
  const { shard, order } = routeOrder(map, key, given, up);
  assert.is(shard, 1);
  assert.equal(order.slice(0, 3), [...membersOf(1)]);
  assert.equal(order.slice(3), ['10.0.0.9:8090', ...membersOf(2)], 'the given nodes, then the other shard\'s members');
  assert.equal(new Set(order).size, order.length, 'no node twice');

  const down = new Set([membersOf(1)[0]!, '10.0.0.9:8090']);
  const routed = routeOrder(map, key, given, (node) => down.has(node)).order;
  assert.equal(routed, [...membersOf(1).slice(1), ...membersOf(2), membersOf(1)[0]!, '10.0.0.9:8090'], 'up members, up others, down members, down others');
});

test('the member that answered last for a shard is tried first, the others round the list', () => {
  const key = keyOf(2);
  const members = membersOf(2);
  assert.equal(routeOrder(map, key, [], up, members[1]).order.slice(0, 3), [members[1], members[2], members[0]]);
  assert.equal(routeOrder(map, key, [], up, 'not-a-member:1').order.slice(0, 3), [...members]);
});

test('a shard with no members left: the key goes to any node', () => {
  const empty: ClientShardMap = { shards: [{ id: 1, members: [] }, { id: 2, members: [] }] };
  assert.equal(routeOrder(empty, 'k', ['10.0.0.9:8090'], up).order, ['10.0.0.9:8090']);
});

test('unknown or unsharded: the nodes in the client\'s own order', () => {
  const routing = new ShardRouting(options);
  assert.equal(routing.route('k', ['b:1', 'a:1'], up), { shard: undefined, order: ['b:1', 'a:1'] });
  routing.learned({ kind: 'unsharded' }, 0);
  assert.equal(routing.route('k', ['b:1', 'a:1'], up), { shard: undefined, order: ['b:1', 'a:1'] });
});

test('lookups: first at once; a failed one is not tried again within refreshMs; an unsharded store is not asked again', () => {
  const routing = new ShardRouting(options);
  assert.ok(routing.lookupDue(0));
  routing.lookupFailed(0);
  assert.is(routing.lookupDue(999), false, 'bounded after a failure');
  assert.ok(routing.lookupDue(1000));
  routing.learned({ kind: 'unsharded' }, 1000);
  assert.is(routing.lookupDue(1_000_000), false, 'an unsharded store costs nothing more');
  routing.answered('k', undefined, 'a:1');
  assert.is(routing.lookupDue(1_000_000), false, 'answers without "shard-id" are what an unsharded store gives');
  routing.answered('k', 1, 'a:1');
  assert.ok(routing.stale && routing.lookupDue(1_000_000), 'a "shard-id" from a store taken for unsharded: ask again');
});

test('a sharded map is looked up again when an answer names another shard, bounded by refreshMs', () => {
  const routing = new ShardRouting(options);
  routing.learned({ kind: 'sharded', map }, 0);
  assert.is(routing.lookupDue(5000), false);
  const key = keyOf(1);
  routing.answered(key, 1, membersOf(1)[0]!);
  assert.is(routing.stale, false, 'the shard the map gives');
  routing.answered(key, 3, membersOf(1)[0]!);
  assert.ok(routing.stale, 'another shard: a reshard happened');
  routing.learned({ kind: 'sharded', map }, 5000);
  assert.is(routing.stale, false);
  routing.answered(key, 2, nodes[0]!);
  assert.is(routing.lookupDue(5500), false, 'not twice within refreshMs');
  assert.ok(routing.lookupDue(6000));
});

test('a sharded store answering without "shard-id", or a 503 shard unavailable, makes the map stale', () => {
  const routing = new ShardRouting(options);
  routing.learned({ kind: 'sharded', map }, 0);
  routing.answered(keyOf(2), undefined, nodes[0]!);
  assert.ok(routing.stale);
  routing.learned({ kind: 'sharded', map }, 0);
  routing.shardUnavailable();
  assert.ok(routing.stale);
  assert.ok(routing.lookupDue(1000));
});

test('a map older than maxAgeMs is looked up again', () => {
  const routing = new ShardRouting(options);
  routing.learned({ kind: 'sharded', map }, 0);
  assert.is(routing.lookupDue(59_999), false);
  assert.ok(routing.lookupDue(60_000));
});

test('the member that answered for its own shard is preferred; a new map without it forgets it', () => {
  const routing = new ShardRouting(options);
  routing.learned({ kind: 'sharded', map }, 0);
  const key = keyOf(1);
  const second = membersOf(1)[1]!;
  routing.answered(key, 1, second);
  assert.is(routing.route(key, [], up).order[0], second);
  routing.answered(key, 1, membersOf(2)[0]!); // a node of another shard forwarded it: not a member to prefer
  assert.is(routing.route(key, [], up).order[0], second);
  assert.ok(routing.stale, 'no member of the shard answered: the map may list members that left');
  const without: ClientShardMap = { shards: map.shards.map((shard) => ({ id: shard.id, members: shard.members.filter((node) => node !== second) })) };
  routing.learned({ kind: 'sharded', map: without }, 1);
  assert.is(routing.route(key, [], up).order[0], without.shards[0]!.members[0]);
});

test.run();
