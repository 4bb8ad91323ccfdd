import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Address } from '../../events/ids.ts';
import {
  addMember,
  compareAddresses,
  groupOfShard,
  groupsOf,
  initialShardMap,
  membersOf,
  notEnoughNodesMessage,
  parseShardMap,
  placesKeysAlike,
  removeNode,
  reshard,
  shardIds,
  shardOfKey,
  shardOfNode,
  unknownShardMessage,
  type ShardMap,
} from '../../events/shard-map.ts';
import { Random } from '../support/random.ts';
import { rejects } from './support.ts';

const node = (i: number, port = 8090) => `10.0.0.${i}:${port}` as Address;
const nodes = (count: number, first = 2) => Array.from({ length: count }, (_, i) => node(first + i));

/** shard id -> members, for comparing maps at a glance. */
function layout(map: ShardMap): Record<number, readonly string[]> {
  return Object.fromEntries(map.shards.map((shard) => [shard.id, [...shard.members]]));
}

/** Every node of `view` in exactly one shard, nothing else; ids 1..n; members sorted. */
function assertCovers(map: ShardMap, view: readonly Address[]): void {
  const listed = map.shards.flatMap((shard) => shard.members);
  assert.is(new Set(listed).size, listed.length, 'a node is in two shards');
  assert.equal([...listed].sort(), [...new Set(view)].sort());
  assert.equal(shardIds(map), map.shards.map((_, i) => i + 1));
  for (const shard of map.shards) assert.equal([...shard.members].sort(compareAddresses), [...shard.members]);
}

/** At least two per shard, sizes within one of each other. */
function assertBalanced(map: ShardMap): void {
  const sizes = map.shards.map((shard) => shard.members.length);
  assert.ok(Math.min(...sizes) >= 2, `a shard has fewer than 2 nodes: ${sizes}`);
  assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `unbalanced: ${sizes}`);
}

/** `count` distinct keys of 1 to 50 UTF-16 code units, mostly printable ASCII, some beyond. */
function randomKeys(count: number, seed: number): string[] {
  const random = new Random(seed);
  const keys = new Set<string>();
  while (keys.size < count) {
    const length = random.int(1, 50);
    let key = '';
    for (let i = 0; i < length; i++) key += String.fromCharCode(random.chance(1 / 16) ? random.int(0xa0, 0x509f) : random.int(0x21, 0x7e));
    keys.add(key);
  }
  return [...keys];
}

const arbAddress = fc
  .tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 1, max: 254 }), fc.constantFrom(8090, 8091, 13800))
  .map(([c, d, port]) => `10.0.${c}.${d}:${port}` as Address);
const arbView = (min: number, max = 24) => fc.uniqueArray(arbAddress, { minLength: min, maxLength: max });

/** A view, a shard count it can hold, the view in another order (with a repeat) and the map's changes. */
const arbStart = arbView(2).chain((view) =>
  fc.record({
    view: fc.constant(view),
    count: fc.integer({ min: 1, max: Math.floor(view.length / 2) }),
    shuffled: fc.shuffledSubarray(view, { minLength: view.length, maxLength: view.length }),
    repeat: fc.constantFrom(...view),
  }),
);

type Change =
  | { readonly kind: 'reshard'; readonly count: number }
  | { readonly kind: 'join'; readonly address: Address; readonly shard: number }
  | { readonly kind: 'leave'; readonly index: number };

const arbChange: fc.Arbitrary<Change> = fc.oneof(
  fc.record({ kind: fc.constant('reshard' as const), count: fc.integer({ min: 1, max: 6 }) }),
  fc.record({ kind: fc.constant('join' as const), address: arbAddress, shard: fc.integer({ min: 1, max: 6 }) }),
  fc.record({ kind: fc.constant('leave' as const), index: fc.nat() }),
);

/**
 * Applies changes as a shell would: a reshard the map refuses changes nothing; a node joins the view
 * and then a shard (refused when the shard does not exist or the node is in another one); a node of
 * the view leaves it and its shard. Returns the view and map after each change.
 */
function applyChanges(start: ShardMap, startView: readonly Address[], changes: readonly Change[]) {
  let map = start;
  let view = [...startView];
  const steps: { view: Address[]; before: ShardMap; after: ShardMap; changed: boolean }[] = [];
  for (const change of changes) {
    const before = map;
    let changed = false;
    if (change.kind === 'reshard') {
      if (view.length >= 2 * change.count) {
        map = reshard(map, view, change.count);
        changed = true;
      }
    } else if (change.kind === 'join') {
      if (!view.includes(change.address)) view.push(change.address);
      const current = shardOfNode(map, change.address);
      if (change.shard <= map.shards.length && (current === undefined || current === change.shard)) {
        map = addMember(map, change.shard, change.address);
        changed = current === undefined;
      }
    } else if (view.length > 0) {
      const leaving = view[change.index % view.length]!;
      view = view.filter((address) => address !== leaving);
      changed = shardOfNode(map, leaving) !== undefined;
      map = removeNode(map, leaving);
    }
    steps.push({ view: [...view], before, after: map, changed });
  }
  return { map, view, steps };
}

const arbHistory = fc.record({ start: arbStart, changes: fc.array(arbChange, { maxLength: 12 }) }).map(({ start, changes }) => {
  const first = initialShardMap(start.view, start.count);
  return { first, ...applyChanges(first, start.view, changes) };
});

test('initialShardMap() deals the sorted view round-robin: node i (sorted, as people read addresses) to shard i mod n + 1', () => {
  const view = [node(10), node(3), node(2), node(11), node(4), node(12), node(5)];
  const map = initialShardMap(view, 3);
  assert.is(map.epoch, 1);
  assert.equal(layout(map), {
    1: [node(2), node(5), node(12)],
    2: [node(3), node(10)],
    3: [node(4), node(11)],
  });
  assert.equal(shardIds(map), [1, 2, 3]);
  assert.equal(initialShardMap(view, 1).shards, [{ id: 1, members: [node(2), node(3), node(4), node(5), node(10), node(11), node(12)], since: 1 }]);
});

test('initialShardMap() and reshard() refuse fewer than two nodes per shard with the course 400, and a count that is not a positive integer', () => {
  const exact = new RegExp(`^${notEnoughNodesMessage}$`);
  assert.is(notEnoughNodesMessage, 'Not enough nodes to provide fault tolerance with requested shard count');
  rejects(() => initialShardMap(nodes(5), 3), exact);
  rejects(() => initialShardMap(nodes(1), 1), exact);
  rejects(() => initialShardMap([node(2), node(2), node(3), node(3)], 2), exact); // repeats count once
  rejects(() => reshard(initialShardMap(nodes(6), 3), nodes(6), 4), exact);
  rejects(() => reshard(initialShardMap(nodes(6), 3), nodes(5), 3), exact); // a node left the view
  for (const count of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    rejects(() => initialShardMap(nodes(8), count), /^shard-count must be a positive integer$/);
    rejects(() => reshard(initialShardMap(nodes(8), 2), nodes(8), count), /^shard-count must be a positive integer$/);
  }
});

test('property: the map depends on the view as a set (any order, repeats), covers it once, two or more per shard, balanced', () => {
  fc.assert(
    fc.property(arbStart, ({ view, count, shuffled, repeat }) => {
      const map = initialShardMap(view, count);
      assert.equal(initialShardMap([...shuffled, repeat], count), map);
      assertCovers(map, view);
      assertBalanced(map);
      assert.is(map.shards.length, count);
      assert.ok(Object.isFrozen(map) && Object.isFrozen(map.shards) && Object.isFrozen(map.shards[0]!.members));
      // Only views too small for the count are refused.
      rejects(() => initialShardMap(view, Math.floor(view.length / 2) + 1), /^Not enough nodes/);
    }),
    { numRuns: 300 },
  );
});

test('compareAddresses() orders numerically and never calls two different addresses equal (a sort would keep the input order)', () => {
  assert.ok(compareAddresses(node(2), node(10)) < 0);
  assert.ok(compareAddresses('10.0.0.2:8090' as Address, '10.0.0.2:13800' as Address) < 0);
  for (const [a, b] of [
    ['h:80', 'h:080'],
    ['a1:80', 'a01:80'],
  ] as [Address, Address][]) {
    assert.is.not(compareAddresses(a, b), 0);
    assert.is(Math.sign(compareAddresses(a, b)), -Math.sign(compareAddresses(b, a)));
    assert.equal(initialShardMap([a, b, node(2), node(3)], 2), initialShardMap([node(3), b, a, node(2)], 2));
  }
});

test('shardOfKey(): for 10,000 random keys every shard holds within ±25 % of K/n, n = 2..8 (several key sets)', () => {
  const view = nodes(16);
  fc.assert(
    fc.property(fc.integer(), (seed) => {
      const keys = randomKeys(10_000, seed);
      for (let n = 2; n <= 8; n++) {
        const map = initialShardMap(view, n);
        const counts = new Map(shardIds(map).map((id) => [id, 0]));
        for (const key of keys) {
          const id = shardOfKey(map, key);
          counts.set(id, counts.get(id)! + 1);
        }
        assert.is(counts.size, n, 'a key went to a shard that does not exist');
        for (const [id, count] of counts) {
          assert.ok(Math.abs(count / (keys.length / n) - 1) <= 0.25, `n=${n} shard ${id} holds ${count} of ${keys.length}`);
        }
      }
    }),
    { numRuns: 5 },
  );
});

test('shardOfKey(): sequential keys ("key0".."key9999") spread within ±25 % too', () => {
  const keys = Array.from({ length: 10_000 }, (_, i) => `key${i}`);
  for (let n = 2; n <= 8; n++) {
    const map = initialShardMap(nodes(16), n);
    const counts = new Map<number, number>();
    for (const key of keys) {
      const id = shardOfKey(map, key);
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    assert.is(counts.size, n);
    for (const count of counts.values()) assert.ok(Math.abs(count / (keys.length / n) - 1) <= 0.25, `n=${n}: ${count}`);
  }
});

test('reshard n -> n+1 moves about 1/(n+1) of 10,000 keys, all into the new shard; n+1 -> n moves only the removed shard\'s keys', () => {
  const view = nodes(18);
  fc.assert(
    fc.property(fc.integer(), (seed) => {
      const keys = randomKeys(10_000, seed);
      for (let n = 2; n <= 8; n++) {
        const map = initialShardMap(view, n);
        const grown = reshard(map, view, n + 1);
        const shrunk = reshard(grown, view, n);
        let moved = 0;
        for (const key of keys) {
          const before = shardOfKey(map, key);
          const after = shardOfKey(grown, key);
          if (before !== after) {
            moved++;
            assert.is(after, n + 1, `key ${JSON.stringify(key)} moved between surviving shards ${before} and ${after}`);
          }
          // Shrinking back returns every key to where it was: only shard n+1's keys moved.
          assert.is(shardOfKey(shrunk, key), before);
        }
        const fraction = moved / keys.length;
        assert.ok(fraction <= 1 / (n + 1) + 0.05, `n=${n}: moved ${fraction}`);
        assert.ok(fraction >= 1 / (n + 1) - 0.05, `n=${n}: moved only ${fraction}`);
        assert.ok(fraction < 0.5, `n=${n}: moved most keys (${fraction})`);
      }
    }),
    { numRuns: 3 },
  );
});

test('property: shardOfKey() depends only on the shard ids: any key, any members, an id of the map', () => {
  fc.assert(
    fc.property(arbHistory, fc.string({ maxLength: 50, unit: 'binary' }), ({ map }, key) => {
      const id = shardOfKey(map, key);
      assert.ok(shardIds(map).includes(id));
      assert.is(shardOfKey(initialShardMap(nodes(2 * map.shards.length), map.shards.length), key), id);
      assert.is(shardOfKey(parseShardMap(JSON.parse(JSON.stringify(map))), key), id);
    }),
    { numRuns: 300 },
  );
});

/** The shards of 4 for some keys, as measured when the hash was chosen; they must never change. */
const PINNED: Record<string, number> = {
  '': 3,
  a: 2,
  x: 3,
  key0: 2,
  key1: 1,
  ['y'.repeat(50)]: 4,
  ключ: 2,
  '🔑': 3,
};

test('shardOfKey() is pinned: these keys map to these shards on every node and every version (changing the hash is a reshard of all data)', () => {
  const map = initialShardMap(nodes(8), 4);
  const pinned = Object.fromEntries(['', 'a', 'x', 'key0', 'key1', 'y'.repeat(50), 'ключ', '🔑'].map((key) => [key, shardOfKey(map, key)]));
  assert.equal(pinned, PINNED);
});

test('reshard n -> n+1 over the same view moves only the nodes that fill the new shard, from the largest shards; n+1 -> n only the removed shard\'s, to the smallest', () => {
  const view = nodes(11);
  const two = initialShardMap(view, 2);
  assert.equal(layout(two), {
    1: [node(2), node(4), node(6), node(8), node(10), node(12)],
    2: [node(3), node(5), node(7), node(9), node(11)],
  });
  const three = reshard(two, view, 3);
  assert.is(three.epoch, 2);
  assert.equal(layout(three), {
    1: [node(2), node(4), node(6), node(8)],
    2: [node(3), node(5), node(7), node(9)],
    3: [node(10), node(11), node(12)],
  });
  const back = reshard(three, view, 2);
  assert.is(back.epoch, 3);
  assert.equal(layout(back), {
    1: [node(2), node(4), node(6), node(8), node(10), node(11)],
    2: [node(3), node(5), node(7), node(9), node(12)],
  });
  // The same count over the same view changes no member (but is a new epoch).
  assert.equal(layout(reshard(three, view, 3)), layout(three));
  assert.is(reshard(three, view, 3).epoch, 3);
});

test('property: from a balanced map over the same view, n -> n+1 moves only the nodes that fill the new shard and n+1 -> n only the removed shard\'s', () => {
  fc.assert(
    fc.property(arbStart, ({ view, count }) => {
      if (view.length < 2 * (count + 1)) return;
      const map = initialShardMap(view, count);
      const grown = reshard(map, view, count + 1);
      const movedUp = view.filter((address) => shardOfNode(map, address) !== shardOfNode(grown, address));
      assert.equal(movedUp.sort(), [...membersOf(grown, count + 1)].sort());
      const shrunk = reshard(grown, view, count);
      const movedDown = view.filter((address) => shardOfNode(grown, address) !== shardOfNode(shrunk, address));
      assert.equal(movedDown.sort(), [...membersOf(grown, count + 1)].sort());
      assertBalanced(shrunk);
    }),
    { numRuns: 300 },
  );
});

test('reshard() gives the view\'s nodes in no shard a shard, drops members that left the view, and rebalances after add-member', () => {
  const map = initialShardMap(nodes(4), 2); // 1: .2 .4   2: .3 .5
  const added = addMember(addMember(map, 1, node(6)), 1, node(7)); // 1: .2 .4 .6 .7
  const view = [...nodes(5), node(20)]; // .7 left, .20 joined the view in no shard
  const next = reshard(added, view, 2);
  assert.is(next.epoch, added.epoch + 1);
  assert.equal(layout(next), {
    1: [node(2), node(4), node(6)],
    2: [node(3), node(5), node(20)],
  });
});

test('property: reshard() covers the view once, two or more per shard, balanced, epoch + 1, the same for any order of the view, keeping as many nodes in place as a balanced map can', () => {
  fc.assert(
    fc.property(arbHistory, fc.integer({ min: 1, max: 8 }), fc.array(arbAddress, { maxLength: 4 }), fc.integer(), ({ map, view }, count, joined, seed) => {
      const newView = [...new Set([...view, ...joined])];
      if (newView.length < 2 * count) {
        rejects(() => reshard(map, newView, count), /^Not enough nodes/);
        return;
      }
      const next = reshard(map, newView, count);
      assert.is(next.epoch, map.epoch + 1);
      assert.is(next.shards.length, count);
      assertCovers(next, newView);
      assertBalanced(next);
      assert.equal(reshard(map, [...new Random(seed).shuffle(newView), newView[0]!], count), next);

      // Nodes kept in place: the most a balanced map allows (the largest targets on the largest kept sets).
      const inView = new Set(newView);
      const kept = map.shards
        .filter((shard) => shard.id <= count)
        .map((shard) => shard.members.filter((member) => inView.has(member)).length)
        .sort((a, b) => b - a);
      const base = Math.floor(newView.length / count);
      const most = kept.reduce((sum, size, rank) => sum + Math.min(size, base + (rank < newView.length % count ? 1 : 0)), 0);
      const stayed = newView.filter((address) => {
        const before = shardOfNode(map, address);
        return before !== undefined && before === shardOfNode(next, address);
      }).length;
      assert.is(stayed, most);
    }),
    { numRuns: 400 },
  );
});

test('addMember(): epoch + 1, sorted in; 404 for an unknown shard, a member of another shard moves (409 if it is its last), the same map for a member of this one', () => {
  const map = initialShardMap(nodes(4), 2);
  const added = addMember(map, 2, node(1));
  assert.is(added.epoch, 2);
  assert.equal(membersOf(added, 2), [node(1), node(3), node(5)]);
  assert.equal(membersOf(added, 1), membersOf(map, 1));
  assert.is(shardOfNode(added, node(1)), 2);
  rejects(() => addMember(map, 3, node(9)), new RegExp(`^${unknownShardMessage}$`), 404);
  rejects(() => addMember(map, 0, node(9)), /^Shard ID does not exist$/, 404);
  const moved = addMember(added, 1, node(1));
  assert.is(moved.epoch, 3);
  assert.equal(membersOf(moved, 1), [node(1), node(2), node(4)]);
  assert.equal(membersOf(moved, 2), [node(3), node(5)]);
  assert.equal(moved.shards.map((shard) => shard.since), added.shards.map((shard) => shard.since), 'both groups go on');
  const alone = removeNode(removeNode(map, node(3)), node(5)); // shard 2 is left with nothing: then 1 joins it
  const last = addMember(alone, 2, node(1));
  assert.equal(membersOf(last, 2), [node(1)]);
  rejects(() => addMember(last, 1, node(1)), /^10\.0\.0\.1:8090 is the last member of shard 2: moving it would lose that shard's keys$/, 409);
  assert.is(addMember(added, 2, node(1)), added);
});

test('removeNode(): the node leaves its shard, epoch + 1; a node of no shard changes nothing', () => {
  const map = initialShardMap(nodes(6), 2);
  const removed = removeNode(map, node(4));
  assert.is(removed.epoch, 2);
  assert.equal(layout(removed), { 1: [node(2), node(6)], 2: [node(3), node(5), node(7)] });
  assert.is(shardOfNode(removed, node(4)), undefined);
  assert.is(removeNode(removed, node(4)), removed);
  // Below two members is allowed here: the node is gone; a reshard or add-member mends it.
  assert.equal(membersOf(removeNode(removed, node(2)), 1), [node(6)]);
});

test('membersOf(), shardIds(), shardOfNode(): what /shard/members, /shard/ids and /shard/node-shard-id answer', () => {
  const map = initialShardMap(nodes(6), 3);
  assert.equal(shardIds(map), [1, 2, 3]);
  assert.equal(membersOf(map, 3), [node(4), node(7)]);
  rejects(() => membersOf(map, 4), /^Shard ID does not exist$/, 404);
  assert.is(shardOfNode(map, node(7)), 3);
  assert.is(shardOfNode(map, node(99)), undefined);
});

test('property: the epoch grows by exactly one per change and not at all without one', () => {
  fc.assert(
    fc.property(arbHistory, ({ first, steps }) => {
      assert.is(first.epoch, 1);
      for (const { before, after, changed, view } of steps) {
        assert.is(after.epoch, before.epoch + (changed ? 1 : 0));
        if (!changed) assert.is(after, before);
        // Every member is in the view, in exactly one shard.
        const listed = after.shards.flatMap((shard) => shard.members);
        assert.is(new Set(listed).size, listed.length);
        for (const member of listed) assert.ok(view.includes(member));
      }
    }),
    { numRuns: 300 },
  );
});

test('property: JSON round trip: parseShardMap(JSON of a map) equals the map, whatever order the members come in', () => {
  fc.assert(
    fc.property(arbHistory, ({ map }) => {
      const wire = JSON.parse(JSON.stringify(map)) as { shards: { members: string[] }[] };
      assert.equal(parseShardMap(wire), map);
      for (const shard of wire.shards) shard.members.reverse();
      const parsed = parseShardMap(wire);
      assert.equal(parsed, map);
      assert.ok(Object.isFrozen(parsed) && Object.isFrozen(parsed.shards[0]));
    }),
    { numRuns: 300 },
  );
});

test('parseShardMap() refuses what no node makes, naming the field', () => {
  const good = { epoch: 3, shards: [{ id: 1, members: [node(2), node(3)], since: 1 }, { id: 2, members: [node(4), node(5)], since: 3 }] };
  assert.equal(layout(parseShardMap(good)), { 1: [node(2), node(3)], 2: [node(4), node(5)] });
  assert.equal(parseShardMap({ epoch: 1, shards: [{ id: 1, members: [], since: 1 }] }).shards, [{ id: 1, members: [], since: 1 }]);
  const cases: [unknown, RegExp][] = [
    [null, /^shard map must be an object$/],
    [[good], /^shard map must be an object$/],
    [{ ...good, epoch: 0 }, /epoch must be a positive integer/],
    [{ ...good, epoch: 1.5 }, /epoch must be a positive integer/],
    [{ ...good, epoch: '3' }, /epoch must be a positive integer/],
    [{ ...good, epoch: 2 ** 53 }, /epoch must be a positive integer/],
    [{ epoch: 3 }, /shards must be a non-empty array/],
    [{ epoch: 3, shards: [] }, /shards must be a non-empty array/],
    [{ epoch: 3, shards: [null] }, /shard must be an object/],
    [{ epoch: 3, shards: [{ id: 0, members: [node(2)], since: 1 }] }, /shard 0 must have id 1/],
    [{ epoch: 3, shards: [good.shards[1], good.shards[0]] }, /shard 0 must have id 1/],
    [{ epoch: 3, shards: [{ id: '1', members: [], since: 1 }] }, /shard 0 must have id 1/],
    [{ epoch: 3, shards: [{ id: 1, members: node(2), since: 1 }] }, /shard 1 members must be an array/],
    [{ epoch: 3, shards: [{ id: 1, members: ['nope'], since: 1 }] }, /^shard 1 member must be of the form IP:PORT/],
    [{ epoch: 3, shards: [{ id: 1, members: [7], since: 1 }] }, /^shard 1 member must be a string/],
    [{ epoch: 3, shards: [{ id: 1, members: [node(2)], since: 1 }, { id: 2, members: [node(2)], since: 1 }] }, /lists 10\.0\.0\.2:8090 twice/],
    [{ epoch: 3, shards: [{ id: 1, members: [node(2), node(2)], since: 1 }] }, /lists 10\.0\.0\.2:8090 twice/],
    [{ epoch: 3, shards: [{ id: 1, members: [] }] }, /shard 1 since must be an epoch from 1 to the map's/],
    [{ epoch: 3, shards: [{ id: 1, members: [], since: 0 }] }, /shard 1 since must be an epoch/],
    [{ epoch: 3, shards: [{ id: 1, members: [], since: 4 }] }, /shard 1 since must be an epoch/],
    [{ epoch: 3, shards: [{ id: 1, members: [], since: '1' }] }, /shard 1 since must be an epoch/],
  ];
  for (const [input, message] of cases) rejects(() => parseShardMap(input), message);
  rejects(() => parseShardMap({ epoch: 1, shards: [{ id: 1, members: nodes(5), since: 1 }] }, 4), /too many members \(> 4\)/);
  rejects(() => parseShardMap({ epoch: 1, shards: nodes(5).map((_, i) => ({ id: i + 1, members: [], since: 1 })) }, 4), /too many shards \(> 4\)/);
});

test('a shard keeps the epoch it was formed at through joins, leaves and reshards that keep it; one removed and made again is a new group', () => {
  const view = nodes(8);
  const first = initialShardMap(view, 2);
  assert.equal(first.shards.map((shard) => shard.since), [1, 1]);
  const grown = reshard(first, view, 4);
  assert.equal(grown.shards.map((shard) => shard.since), [1, 1, 2, 2]);
  const joined = addMember(grown, 3, node(40));
  assert.equal(joined.shards.map((shard) => shard.since), [1, 1, 2, 2]);
  const left = removeNode(joined, node(2));
  assert.equal(left.shards.map((shard) => shard.since), [1, 1, 2, 2]);
  const shrunk = reshard(left, view, 2);
  assert.equal(shrunk.shards.map((shard) => shard.since), [1, 1]);
  const again = reshard(shrunk, view, 3);
  assert.equal(again.shards.map((shard) => shard.since), [1, 1, again.epoch]);
  assert.equal([...groupsOf(again)], [groupOfShard(again, 1), groupOfShard(again, 2), groupOfShard(again, 3)]);
  assert.is.not(groupOfShard(again, 3), groupOfShard(grown, 3));
});

test('placesKeysAlike(): true exactly when the shard ids are the same set, whatever the members (add-member moves no key, a reshard to another count does)', () => {
  const view = Array.from({ length: 6 }, (_, i) => `10.0.0.${i + 2}:8090` as Address);
  const map = initialShardMap(view.slice(0, 4), 2);
  const added = addMember(map, 1, view[4]!);
  assert.ok(placesKeysAlike(map, added));
  assert.ok(placesKeysAlike(map, { ...map, shards: [...map.shards].reverse() }), 'the order of the shards does not matter');
  const three = reshard(added, view, 3);
  assert.not.ok(placesKeysAlike(map, three));
  const keys = Array.from({ length: 200 }, (_, i) => `k${i}`);
  assert.ok(keys.every((key) => shardOfKey(map, key) === shardOfKey(added, key)));
  assert.ok(keys.some((key) => shardOfKey(map, key) !== shardOfKey(three, key)));
});

test.run();
