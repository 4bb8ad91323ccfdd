// A replica of one group of a sharded store (src/core/replica.ts `group`): it checks and waits only
// for its own group's entries of a client's metadata, hands the others on (an event's `foreign`,
// a read's answer), and after a reshard holds only the keys its shard owns.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Address } from '../../events/ids.ts';
import type { KvEvent } from '../../events/kv-event.ts';
import { clockCovers, emptyClock, type VectorClock } from '../../events/vector-clock.ts';
import { parseEvent } from '../../events/parse-event.ts';
import { Replica } from '../../src/core/replica.ts';
import { addresses, testLimits, testSettings } from './support.ts';

const [A, B] = [addresses[0]!, addresses[1]!];

function member(self: Address, group: string): Replica {
  const incarnation = `a1-${group}`;
  const r = new Replica({ self, incarnation, boot: 'a1', initialView: [A, B], limits: testLimits, settings: testSettings, now: 0 });
  r.onDelivered = (events) => {
    const last = events.at(-1)!;
    if (last.origin === r.id) r.ownStoredUpTo(last.seq);
    r.storedUpTo(r.clock);
  };
  return r;
}

const otherGroup = { '10.9.9.9:8090/zz-2.1': 7, '10.9.9.8:8090/yy-2.1': 3 } as VectorClock;

test('a replica of group 1.1 counts metadata of other groups as satisfied, but never its own group\'s missing entries', () => {
  const a = member(A, '1.1');
  assert.is(a.group, '1.1');
  assert.ok(a.covers(otherGroup), 'other groups\' entries are never waited for');
  assert.not.ok(a.covers({ ...otherGroup, [`${B}/b1-1.1`]: 1 } as VectorClock), 'its own group\'s missing entry is');
  // An unsharded replica (no tag) waits for every entry, tagged or not.
  const plain = new Replica({ self: A, incarnation: 'a1', boot: 'a1', initialView: [A, B], limits: testLimits, settings: testSettings, now: 0 });
  assert.is(plain.group, '');
  assert.not.ok(plain.covers(otherGroup));
});

test('a write records the other groups\' entries of its metadata in foreign, and hands back metadata covering the request and the event', () => {
  const a = member(A, '1.1');
  const result = a.write('k', 'v', otherGroup);
  assert.equal(result.event.foreign, otherGroup);
  assert.equal(Object.keys(result.event.clock), [a.id], 'the clock holds its own group\'s entries only');
  assert.ok(clockCovers(result.metadata, otherGroup) && clockCovers(result.metadata, result.event.clock));
  // Across the wire, foreign survives the event's codec.
  const wire = parseEvent(JSON.parse(JSON.stringify(result.event)), testLimits.clockEntriesMax);
  assert.equal(wire.foreign, otherGroup);
  // A write with only its own group's metadata records nothing foreign.
  assert.is(a.write('k2', 'v', result.event.clock).event.foreign, undefined);
});

test('a read hands back the winner\'s foreign entries: a client reading the value depends on what its writer had seen in other shards', () => {
  const a = member(A, '1.1');
  a.write('k', 'v', otherGroup);
  const read = a.read('k', emptyClock);
  assert.ok(clockCovers(read.metadata, otherGroup), JSON.stringify(read.metadata));
  // The answer to a missing key covers the metadata sent, other groups' entries included.
  assert.ok(clockCovers(a.read('nothing', otherGroup).metadata, otherGroup));
});

test('keepOnlyKeys: keys another shard owns leave the view, their later events change nothing; entriesOf and liveKeysOf select by key', () => {
  const a = member(A, '1.1');
  let metadata = emptyClock;
  for (const key of ['a1', 'a2', 'b1', 'b2', 'b3']) metadata = a.write(key, key, metadata).metadata;
  metadata = a.write('b3', undefined, metadata).metadata;
  assert.equal(a.entriesOf((key) => key.startsWith('b')).map((event) => `${event.key}:${event.type}`).sort(), ['b1:put', 'b2:put', 'b3:delete']);
  assert.is(a.liveKeysOf((key) => key.startsWith('b')), 2);
  const dropped = a.keepOnlyKeys((key) => key.startsWith('a'));
  assert.is(dropped, 3);
  assert.is(a.read('b1', metadata).found, undefined);
  assert.is(a.liveKeysOf(() => true), 2);
  a.write('b1', 'again', metadata);
  assert.is(a.read('b1', emptyClock).found, undefined, 'a later write of a key this group no longer owns leaves no value');
  assert.is((a.read('a1', emptyClock).found as { value?: unknown } | undefined)?.value, 'a1');
});

/** A hand-made push of `events` from `from` to `to`. */
function pushTo(from: Replica, to: Replica, events: readonly KvEvent[]): void {
  const reply = to.handle({ rpc: 'push', request: { from: from.self, incarnation: from.incarnation, events, clock: from.clock } }, 0);
  assert.is(reply.type, 'accepted', JSON.stringify(reply));
}

const valueAt = (r: Replica, key: string): unknown => (r.read(key, emptyClock).found as { value?: unknown } | undefined)?.value;

test('keepOnlyKeys: events of keys a later map gives this group, delivered before it knew that map, join the view then (a member that missed a reshard)', () => {
  const a = member(A, '1.1');
  const b = member(B, '1.1');
  const old = (key: string) => key.startsWith('a');
  a.keepOnlyKeys(old);
  // b follows the newer map (keys b* moved into the group) and takes their imports; a does not know it yet.
  const moved = [b.write('b1', 'in', emptyClock).event, b.write('b2', 'in', emptyClock).event, b.write('b2', undefined, emptyClock).event];
  const snapshotOnly = b.write('b3', 'in', emptyClock).event; // reaches a in a snapshot, not a push
  pushTo(b, a, moved);
  assert.is(a.read('b1', emptyClock).found, undefined, 'not this group\'s key under the map a follows');
  assert.equal(a.unownedKeys, { held: 2, dropped: 0 });
  a.compact(0); // the log holds events of keys the view lacks: not an invariant violation while the group does not own them
  a.installSnapshot([moved[0]!, moved[2]!, snapshotOnly], b.clock);
  assert.equal(a.unownedKeys, { held: 3, dropped: 0 });
  a.keepOnlyKeys((key) => old(key) || key.startsWith('b'));
  assert.is(valueAt(a, 'b1'), 'in');
  assert.is(a.read('b2', emptyClock).found, undefined, 'the delete of b2 came after its put');
  assert.is(valueAt(a, 'b3'), 'in');
  assert.equal(a.unownedKeys, { held: 0, dropped: 0 });
  a.compact(0); // before the fix: "log event ... for "b1" is missing from the view"
  assert.is(a.liveKeysOf(() => true), 2);
});

test("a snapshot carries the keys held aside: a receiver that owns them takes them, and does not read their absence as a delete", () => {
  const a = member(A, '1.1');
  const b = member(B, '1.1');
  a.keepOnlyKeys((key) => key.startsWith('a'));
  const moved = b.write('b1', 'in', emptyClock).event; // b follows the newer map
  pushTo(b, a, [moved]);
  const snapshot = a.snapshot();
  assert.ok(snapshot.entries.some((entry) => entry.key === 'b1'), 'sent along');
  // A new member that follows the newer map joins from a.
  const joiner = new Replica({ self: B, incarnation: 'b2-1.1', boot: 'b2', initialView: [A, B], limits: testLimits, settings: testSettings, now: 0 });
  joiner.keepOnlyKeys((key) => key.startsWith('a') || key.startsWith('b'));
  joiner.installSnapshot(snapshot.entries, snapshot.clock);
  assert.is(valueAt(joiner, 'b1'), 'in');
  // b already holds b1: a snapshot of a's must not take it out of b's view.
  b.installSnapshot(snapshot.entries, snapshot.clock);
  assert.is(valueAt(b, 'b1'), 'in');
  // And a follower of the old map puts it aside again.
  const old = new Replica({ self: B, incarnation: 'b3-1.1', boot: 'b3', initialView: [A, B], limits: testLimits, settings: testSettings, now: 0 });
  old.keepOnlyKeys((key) => key.startsWith('a'));
  old.installSnapshot(snapshot.entries, snapshot.clock);
  assert.is(old.read('b1', emptyClock).found, undefined);
  assert.equal(old.unownedKeys, { held: 1, dropped: 0 });
});

test.run();
