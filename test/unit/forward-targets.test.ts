import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Address } from '../../events/ids.ts';
import { addMember, initialShardMap, membersOf, shardIds } from '../../events/shard-map.ts';
import { forwardOrder, UnansweredMembers } from '../../src/shard/forward-targets.ts';

const node = (i: number) => `10.0.0.${i}:8090` as Address;

test('forwardOrder: each node sticks to one member of the other shard, and the nodes of a shard spread over its members', () => {
  const map = initialShardMap([1, 2, 3, 4, 5, 6].map(node), 2);
  const [a, b] = shardIds(map) as [number, number];
  const firsts = membersOf(map, a).map((self) => forwardOrder(map, self, b)[0]);
  assert.equal([...firsts].sort(), [...membersOf(map, b)].sort(), 'the three members of shard a start at three different members of b');
  for (const self of membersOf(map, a)) assert.equal(forwardOrder(map, self, b), forwardOrder(map, self, b), 'the same order on every request');
});

test('forwardOrder: every member of the shard once, never the node itself; a node in no shard has an order too', () => {
  fc.assert(
    fc.property(fc.integer({ min: 2, max: 4 }), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 40 }), (shards, extra, pick) => {
      const view = Array.from({ length: 2 * shards + extra }, (_, i) => node(i + 1));
      let map = initialShardMap(view, shards);
      const outsider = node(200);
      const ids = shardIds(map);
      const self = pick % 2 === 0 ? view[pick % view.length]! : outsider;
      if (pick % 3 === 0) map = addMember(map, ids[0]!, outsider); // sometimes the outsider is a member
      for (const id of ids) {
        const order = forwardOrder(map, self, id);
        const expected = membersOf(map, id).filter((member) => member !== self);
        assert.equal([...order].sort(), [...expected].sort());
      }
    }),
  );
});

test('UnansweredMembers: members that did not answer in the last 10 s go last, in their order; an answer brings one back', () => {
  const unanswered = new UnansweredMembers();
  const members = [node(1), node(2), node(3)];
  assert.equal(unanswered.lastOf(members, 0), members);
  unanswered.failed(node(1), 1000);
  unanswered.failed(node(2), 1000);
  assert.equal(unanswered.lastOf(members, 5000), [node(3), node(1), node(2)]);
  assert.equal(unanswered.lastOf(members, 11_000), members, 'ten seconds later they are tried in order again');
  unanswered.answered(node(1));
  assert.equal(unanswered.lastOf(members, 5000), [node(1), node(3), node(2)]);
});

test.run();
