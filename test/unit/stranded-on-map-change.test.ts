// Which writes a node strands when a newer map reaches it (ShardedNode.strand): those beyond the
// clock a reshard quiesced its group at, when that reshard came after the map it followed. It took
// them alone while the reshard ran without it; they are handed to their keys' shard (handoff.ts).
// A map change that moves no keys (a node removed), or a reshard whose quiesced clocks this node
// does not know, strands nothing. The node's life is driven through its core: no network here.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { groupOf, type Address, type ReplicaId } from '../../events/ids.ts';
import { groupOfShard, initialShardMap, removeNode, reshard, shardOfKey, shardOfNode, type ShardMap } from '../../events/shard-map.ts';
import type { ShardedNode } from '../../src/shard/sharded-node.ts';
import { shardedNodeAt } from './sharded-node-fixture.ts';

const view = [1, 2, 3, 4, 5, 6].map((i) => `10.0.1.${i}:8090`) as Address[];
const before = initialShardMap(view, 2);
const next = reshard(before, view, 3);
/** A node that stays in shard 2 (its group goes on, some of its keys move to shard 3), and one that moves from shard 1 to shard 3. */
const stayer = before.shards[1]!.members.find((node) => shardOfNode(next, node) === 2)!;
const mover = before.shards[0]!.members.find((node) => shardOfNode(next, node) === 3)!;

function nodeAt(self: Address): ShardedNode {
  return shardedNodeAt(self, view, before);
}

/** Writes `count` keys of the node's shard at its life (seqs 1 to count); returns them. */
function writeKeys(sharded: ShardedNode, count: number): string[] {
  const keys: string[] = [];
  for (let i = 0; keys.length < count; i++) if (shardOfKey(before, `k${i}`) === sharded.shard) keys.push(`k${i}`);
  for (const key of keys) sharded.node.core.write(key, key, {});
  return keys;
}

/** The clock the reshard to `map` saw of `sharded`'s group: its life's first `seq` writes. */
function quiescedAt(sharded: ShardedNode, map: ShardMap, seq: number) {
  return { [groupOfShard(before, sharded.shard!)]: { epoch: map.epoch, clock: { [sharded.node.core.id]: seq } } };
}

const strandedKeys = (sharded: ShardedNode): string[] => [...(sharded.stranded.ready()[0]?.events.values() ?? [])].map((event) => event.key).sort();

test('staying in its group: the writes beyond the quiesced clock of keys that left its shard are stranded', () => {
  const sharded = nodeAt(stayer);
  const keys = writeKeys(sharded, 40);
  sharded.noteQuiesced(quiescedAt(sharded, next, 10));
  assert.ok(sharded.adopt(next, 'spread', [], true));
  const expected = keys.slice(10).filter((key) => shardOfKey(next, key) !== 2).sort();
  assert.ok(expected.length > 0, 'some keys beyond the clock moved');
  assert.equal(strandedKeys(sharded), expected);
  assert.is(sharded.stranded.ready()[0]!.group, groupOfShard(before, 2));
  for (const event of sharded.stranded.ready()[0]!.events.values()) assert.is(groupOf(event.origin), groupOfShard(before, 2));
});

test('moving to another group: every write of the ended life beyond the quiesced clock is stranded, whatever its key', () => {
  const sharded = nodeAt(mover);
  const keys = writeKeys(sharded, 30);
  sharded.noteQuiesced(quiescedAt(sharded, next, 12));
  assert.ok(sharded.adopt(next, 'spread', [], true));
  assert.is(sharded.shard, 3);
  assert.equal(strandedKeys(sharded), keys.slice(12).sort());
});

test('a node that took part in the reshard (all its writes quiesced) strands nothing', () => {
  for (const self of [stayer, mover]) {
    const sharded = nodeAt(self);
    writeKeys(sharded, 20);
    sharded.noteQuiesced(quiescedAt(sharded, next, 20));
    sharded.commit(next, 'r1');
    assert.is(sharded.stranded.size, 0, self);
  }
});

test('a change that moves no keys strands nothing; a reshard whose quiesced clock has not come holds the writes until it does', () => {
  const removed = nodeAt(mover);
  writeKeys(removed, 10);
  // A quiesced clock of an earlier reshard (epoch 1, not after the map followed) does not count.
  removed.noteQuiesced({ [groupOfShard(before, 1)]: { epoch: before.epoch, clock: {} } });
  assert.ok(removed.adopt(removeNode(before, mover), 'node removed'));
  assert.is(removed.shard, undefined);
  assert.is(removed.stranded.size, 0, 'a node removed from its shard');

  const unknowing = nodeAt(stayer);
  const keys = writeKeys(unknowing, 30);
  assert.ok(unknowing.adopt(next, 'spread', [], true));
  const leaving = keys.filter((key) => shardOfKey(next, key) !== 2);
  assert.is(unknowing.stranded.size, leaving.length, 'every entry of a key that left is held');
  assert.equal(unknowing.stranded.ready(), [], 'and not sent before the clock comes');
  unknowing.noteQuiesced(quiescedAt(unknowing, before, 30));
  assert.equal(unknowing.stranded.ready(), [], 'a clock of the map it followed before is not the one');
  unknowing.noteQuiesced(quiescedAt(unknowing, next, 20));
  assert.equal(strandedKeys(unknowing), keys.slice(20).filter((key) => shardOfKey(next, key) !== 2).sort(), 'the clock came: what it did not take');
});

test('a later reshard of a group replaces its quiesced clock; an earlier one does not', () => {
  const sharded = nodeAt(stayer);
  const group = groupOfShard(before, 2);
  const id = sharded.node.core.id;
  sharded.noteQuiesced({ [group]: { epoch: 3, clock: { [id]: 5 } } });
  sharded.noteQuiesced({ [group]: { epoch: 2, clock: { [id]: 9 } } });
  assert.equal(sharded.state().quiesced, { [group]: { epoch: 3, clock: { [id]: 5 } } });
  sharded.noteQuiesced({ [group]: { epoch: 4, clock: { [id]: 7 } } });
  assert.equal(sharded.state().quiesced, { [group]: { epoch: 4, clock: { [id]: 7 } } });
  // The same reshard's clock again, or a part of it (gossip repeats it): nothing changes; more of it: merged.
  sharded.noteQuiesced({ [group]: { epoch: 4, clock: { [id]: 6 } } });
  assert.equal(sharded.state().quiesced, { [group]: { epoch: 4, clock: { [id]: 7 } } });
  const other = '10.0.1.9:8090/z9-2.1' as ReplicaId;
  sharded.noteQuiesced({ [group]: { epoch: 4, clock: { [other]: 2 }, retired: { '10.0.1.8:8090': { incarnation: 'y8-2.1', seq: 3 } } } });
  assert.equal(sharded.state().quiesced, { [group]: { epoch: 4, clock: { [id]: 7, [other]: 2 }, retired: { '10.0.1.8:8090': { incarnation: 'y8-2.1', seq: 3 } } } });
});

test.run();
