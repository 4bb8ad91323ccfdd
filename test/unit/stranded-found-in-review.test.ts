// Found in review of the hand-off of stranded writes (ShardedNode.strand, noteQuiesced): cases where
// a node stranded writes no reshard missed, or missed writes a reshard did not take. Both are fixed:
//
// 1. A fault-free reshard stranded every entry written by a retired life of the group (a member
//    that restarted, or moved to another shard, more than RETIRE_AFTER_MS ago): retirement removes
//    the life's entry from the delivered clock, which is what the coordinator sends as the quiesced
//    clock, so `(taken[origin] ?? 0) < seq` holds for all of its writes. They are then handed on to
//    the keys' new shard and written there as new events, over any blind write made there since
//    the reshard's ready (a lost update; see test/integration/handoff-retired-life.test.ts).
//    Fixed: the quiesced clock carries the group's retired lives, and a node strands nothing its
//    own life retired.
// 2. A node started after a reshard (discovery at start, src/shard/discover.ts + main.ts) never
//    learns the quiesced clocks from discovery, so its gossip spreads the new map without them. A
//    cut-off node whose first news of the map is that gossip adopts it without stranding anything,
//    and the peer's later gossip (same epoch, with the clocks) is not adopted again: the writes it
//    took alone are never handed on (lost with its life, or at the next ready). Fixed: discovery
//    brings the clocks, and a node that adopts a reshard's map without its clock holds the writes
//    that may have been missed until the clock comes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Address, ReplicaId } from '../../events/ids.ts';
import type { KvEvent } from '../../events/kv-event.ts';
import { groupOfShard, initialShardMap, reshard, shardOfKey, shardOfNode, type ShardMap } from '../../events/shard-map.ts';
import type { ShardedNode } from '../../src/shard/sharded-node.ts';
import { shardedNodeAt } from './sharded-node-fixture.ts';

const view = [1, 2, 3, 4, 5, 6].map((i) => `10.0.1.${i}:8090`) as Address[];
const before = initialShardMap(view, 2);
const next = reshard(before, view, 3);
const stayer = before.shards[1]!.members.find((node) => shardOfNode(next, node) === 2)!;
const mover = before.shards[0]!.members.find((node) => shardOfNode(next, node) === 3)!;

function nodeAt(self: Address, map: ShardMap = before): ShardedNode {
  return shardedNodeAt(self, view, map);
}

function keysOfShard(shard: number, count: number, prefix: string): string[] {
  const keys: string[] = [];
  for (let i = 0; keys.length < count; i++) if (shardOfKey(before, `${prefix}${i}`) === shard) keys.push(`${prefix}${i}`);
  return keys;
}

/**
 * The state a member of `shard`'s group has once an earlier life of another member (it restarted,
 * or moved shard) is retired: its writes are winners here, its clock entry is gone.
 */
function holdRetiredLifeWrites(sharded: ShardedNode, shard: number, count: number): string[] {
  const other = before.shards[shard - 1]!.members.find((node) => node !== sharded.self)!;
  const incarnation = `a0-${groupOfShard(before, shard)}`;
  const origin = `${other}/${incarnation}` as ReplicaId;
  const keys = keysOfShard(shard, count, 'old');
  const entries: KvEvent[] = keys.map((key, i) => Object.freeze({ type: 'put', origin, seq: i + 1, key, value: `old ${key}`, clock: Object.freeze({ [origin]: i + 1 }) }) as KvEvent);
  sharded.node.core.restore({ clock: { [origin]: count }, entries, retired: { [other]: { incarnation, seq: count } } }, []);
  assert.is(sharded.node.core.clock[origin], undefined, 'the retired life has no clock entry');
  assert.ok(sharded.node.core.entryOf(keys[0]!) !== undefined, 'its writes are still the winners');
  return keys;
}

/** What a fault-free reshard's commit carries for this node's group: its members' agreed delivered clock (GroupStatus.clock). */
function quiescedAsCoordinatorSends(sharded: ShardedNode, map: ShardMap) {
  return { [groupOfShard(before, sharded.shard!)]: { epoch: map.epoch, clock: sharded.node.core.clock } };
}

test('a fault-free reshard strands nothing, even when the group holds writes of a retired life (mover)', () => {
  const sharded = nodeAt(mover);
  holdRetiredLifeWrites(sharded, 1, 20);
  for (const key of keysOfShard(1, 5, 'fresh')) sharded.node.core.write(key, key, {});
  // The node takes part in the reshard: freeze, quiesce (its clock is the agreed one), commit.
  sharded.freeze(next, 'r1');
  sharded.noteQuiesced(quiescedAsCoordinatorSends(sharded, next));
  sharded.commit(next, 'r1');
  assert.is(sharded.shard, 3);
  assert.is(sharded.stranded.size, 0, `stranded ${sharded.stranded.size} writes the reshard took (every write of the retired life)`);
});

test('a fault-free reshard strands nothing, even when the group holds writes of a retired life (stayer, keys leaving)', () => {
  const sharded = nodeAt(stayer);
  const keys = holdRetiredLifeWrites(sharded, 2, 40);
  assert.ok(keys.some((key) => shardOfKey(next, key) !== 2), 'some of those keys move to shard 3');
  sharded.freeze(next, 'r1');
  sharded.noteQuiesced(quiescedAsCoordinatorSends(sharded, next));
  sharded.commit(next, 'r1');
  assert.is(sharded.shard, 2);
  assert.is(sharded.stranded.size, 0, `stranded ${sharded.stranded.size} writes the reshard exported`);
});

test('a cut-off node strands its writes even when the first gossip of the new map comes from a node started after the reshard', () => {
  for (const self of [stayer, mover]) {
    // The cut-off node took writes alone (beyond the clock the reshard quiesced its group at: none of them).
    const cutOff = nodeAt(self);
    const shard = cutOff.shard!;
    for (const key of keysOfShard(shard, 30, 'alone')) cutOff.node.core.write(key, key, {});
    const quiesced = { [groupOfShard(before, shard)]: { epoch: next.epoch, clock: {} } };

    // A node that knows the reshard (it took the commit) and one restarted since: main.ts builds it
    // from discoverShardMap's answer (map and view only), as here.
    const witness = nodeAt(view.find((node) => node !== self && shardOfNode(next, node) !== undefined)!);
    witness.noteQuiesced(quiesced);
    witness.adopt(next, 'reshard', [], true);
    const restarted = nodeAt(view.find((node) => node !== self && node !== witness.self)!, next);
    assert.is(restarted.state().quiesced, undefined, 'the restarted node spreads the map without the quiesced clocks');

    // Gossip reaches the cut-off node when the cut heals: first the restarted node's, then the witness's.
    for (const from of [restarted, witness]) {
      const state = from.state();
      cutOff.noteQuiesced(state.quiesced);
      cutOff.adopt(state.map!, 'spread', state.view, state.byReshard === true, state.from);
    }
    assert.is(cutOff.map.epoch, next.epoch);
    assert.ok(cutOff.stranded.size > 0, `${self === mover ? 'mover' : 'stayer'}: the writes it took alone are never handed on (stranded: ${cutOff.stranded.size})`);
  }
});

test.run();
