import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { KvEvent } from '../../events/kv-event.ts';
import { emptyClock, meetClocks } from '../../events/vector-clock.ts';
import { compareEvents } from '../../src/core/conflict-order.ts';
import {
  applyEvents,
  dropStableTombstones,
  emptyView,
  type KvView,
  lookup,
  mergeSnapshot,
  viewEntries,
} from '../../src/core/kv-view.ts';
import { arbHistory, clock, del, put, readableContents, runHistory, shuffled, viewAsObject } from './support.ts';

/** The expected winners, computed the slow way. */
function expectedWinners(events: readonly KvEvent[]): Record<string, string> {
  const byKey = new Map<string, KvEvent>();
  for (const event of events) {
    const current = byKey.get(event.key);
    if (current === undefined || compareEvents(event, current) > 0) byKey.set(event.key, event);
  }
  const out: Record<string, string> = {};
  for (const [key, event] of byKey) out[key] = `${event.type}:${event.origin}#${event.seq}`;
  return out;
}

/** Rebuilds a view from nothing: what the incrementally maintained view must equal. */
function foldEvents(events: Iterable<KvEvent>): KvView {
  return applyEvents(emptyView, events);
}

test('applyEvents() keeps for each key the greatest event in the conflict order', () => {
  const first = put(0, 1, 'k', 'a');
  const second = put(1, 1, 'k', 'b', { 0: 1 });
  const view = applyEvents(emptyView, [second, first]);
  assert.is(lookup(view, 'k'), second);
  assert.is(view.liveKeys, 1);
  assert.is(view.tombstones, 0);
  assert.is(lookup(view, 'missing'), undefined);
});

test('applyEvents() counts live keys and tombstones', () => {
  const view = applyEvents(emptyView, [put(0, 1, 'a', 1), put(0, 2, 'b', 2), del(0, 3, 'a')]);
  assert.is(view.liveKeys, 1);
  assert.is(view.tombstones, 1);
  assert.is(lookup(view, 'a')?.type, 'delete');
  const revived = applyEvents(view, [put(0, 4, 'a', 3)]);
  assert.is(revived.liveKeys, 2);
  assert.is(revived.tombstones, 0);
});

test('applyEvents() leaves the old view untouched and returns it when nothing changes', () => {
  const event = put(0, 1, 'k', 'a');
  const before = applyEvents(emptyView, [event]);
  const after = applyEvents(before, [put(0, 2, 'k', 'b')]);
  assert.is(lookup(before, 'k'), event);
  assert.is.not(after, before);
  assert.is(applyEvents(after, []), after);
  assert.is(applyEvents(after, [event]), after, 'an older event changes nothing');
  assert.is(lookup(emptyView, 'k'), undefined);
});

test('folding the log from nothing equals incremental apply in any batching and any order', () => {
  fc.assert(
    fc.property(arbHistory, fc.array(fc.integer({ min: 1, max: 5 }), { maxLength: 20 }), fc.integer(), (steps, cuts, seed) => {
      const { events } = runHistory(steps);
      const folded = foldEvents(events);
      // Incremental, in causal order, in random batch sizes.
      let incremental = emptyView;
      let at = 0;
      for (const size of cuts) {
        incremental = applyEvents(incremental, events.slice(at, at + size));
        at += size;
      }
      incremental = applyEvents(incremental, events.slice(at));
      // One at a time in a shuffled order (the fold is a max, so order cannot matter).
      let shuffledView = emptyView;
      for (const event of shuffled(events, seed)) shuffledView = applyEvents(shuffledView, [event]);
      const expected = expectedWinners(events);
      const counts = (v: typeof folded) => [v.liveKeys, v.tombstones];
      assert.equal(viewAsObject(folded), expected);
      assert.equal(viewAsObject(incremental), expected);
      assert.equal(viewAsObject(shuffledView), expected);
      assert.equal(counts(incremental), counts(folded));
      assert.equal(counts(shuffledView), counts(folded));
    }),
    { numRuns: 300 },
  );
});

test('mergeSnapshot() of two replicas equals the fold of what both delivered, either way round', () => {
  fc.assert(
    fc.property(arbHistory, fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 }), (steps, i, j) => {
      const { replicas } = runHistory(steps);
      const a = replicas[i]!;
      const b = replicas[j]!;
      const union = new Map<string, KvEvent>();
      for (const event of [...a.delivered, ...b.delivered]) union.set(`${event.origin}#${event.seq}`, event);
      const expected = expectedWinners([...union.values()]);
      const ab = mergeSnapshot(foldEvents(a.delivered), a.clock, [...viewEntries(foldEvents(b.delivered))], b.clock);
      const ba = mergeSnapshot(foldEvents(b.delivered), b.clock, [...viewEntries(foldEvents(a.delivered))], a.clock);
      assert.equal(viewAsObject(ab), expected);
      assert.equal(viewAsObject(ba), expected);
    }),
    { numRuns: 300 },
  );
});

test('mergeSnapshot() is idempotent', () => {
  fc.assert(
    fc.property(arbHistory, (steps) => {
      const { replicas } = runHistory(steps);
      const a = replicas[0]!;
      const view = foldEvents(a.delivered);
      const merged = mergeSnapshot(view, a.clock, [...viewEntries(view)], a.clock);
      assert.equal(viewAsObject(merged), viewAsObject(view));
    }),
  );
});

test('mergeSnapshot() treats a key missing on the side that delivered it as a collected delete', () => {
  const written = put(0, 1, 'k', 'old');
  // Ours has `written`; theirs deleted it and forgot the tombstone: key absent, clock covers it.
  const ours = foldEvents([written]);
  const theirsClock = clock({ 0: 1, 1: 1 });
  const merged = mergeSnapshot(ours, clock({ 0: 1 }), [], theirsClock);
  assert.is(lookup(merged, 'k'), undefined);
  assert.is(merged.liveKeys, 0);
  // The other way round: we forgot the tombstone, their snapshot still has the old put.
  const forgotten = mergeSnapshot(emptyView, theirsClock, [written], clock({ 0: 1 }));
  assert.is(lookup(forgotten, 'k'), undefined);
});

test('mergeSnapshot() keeps a write the other side has not seen, even where it collected a tombstone', () => {
  const ours = put(0, 2, 'k', 'new', { 1: 1 });
  // Theirs deleted `k` at {1:1} and collected the tombstone; our write came after it.
  const merged = mergeSnapshot(foldEvents([ours]), clock({ 0: 2, 1: 1 }), [], clock({ 1: 1, 0: 1 }));
  assert.is(lookup(merged, 'k'), ours);
  // And a snapshot's put we never saw is taken.
  const theirs = put(1, 1, 'j', 'v');
  assert.is(lookup(mergeSnapshot(emptyView, emptyClock, [theirs], clock({ 1: 1 })), 'j'), theirs);
});

test('mergeSnapshot() reads like the fold when both sides collected their stable tombstones', () => {
  fc.assert(
    fc.property(arbHistory, (steps) => {
      const { replicas } = runHistory(steps);
      const [a, b] = [replicas[0]!, replicas[1]!];
      const stable = meetClocks(a.clock, b.clock);
      const aView = dropStableTombstones(foldEvents(a.delivered), stable);
      const bView = dropStableTombstones(foldEvents(b.delivered), stable);
      const union = new Map<string, KvEvent>();
      for (const event of [...a.delivered, ...b.delivered]) union.set(`${event.origin}#${event.seq}`, event);
      const expected = readableContents(foldEvents(union.values()));
      assert.equal(readableContents(mergeSnapshot(aView, a.clock, [...viewEntries(bView)], b.clock)), expected);
      assert.equal(readableContents(mergeSnapshot(bView, b.clock, [...viewEntries(aView)], a.clock)), expected);
    }),
    { numRuns: 300 },
  );
});

test('dropStableTombstones() forgets stable tombstones only, and counts them out', () => {
  const view = foldEvents([put(0, 1, 'a', 1), del(0, 2, 'a'), del(1, 1, 'b'), put(1, 2, 'c', 3)]);
  assert.is(view.tombstones, 2);
  const dropped = dropStableTombstones(view, clock({ 0: 2 }));
  assert.is(lookup(dropped, 'a'), undefined);
  assert.is(lookup(dropped, 'b')?.type, 'delete', 'the tombstone of 1#1 is not stable');
  assert.is(lookup(dropped, 'c')?.type, 'put', 'puts are never dropped');
  assert.is(dropped.tombstones, 1);
  assert.is(dropped.liveKeys, 1);
  const all = dropStableTombstones(view, clock({ 0: 5, 1: 5 }));
  assert.is(all.tombstones, 0);
  assert.equal(viewAsObject(all), { c: viewAsObject(view).c! });
  assert.is(dropStableTombstones(foldEvents([put(0, 1, 'x', 1)]), clock({ 0: 9 })).liveKeys, 1);
  // The tombstones of kept keys stay, stable or not (Replica.keysInLog: a loser of the key is still in the log).
  const kept = dropStableTombstones(view, clock({ 0: 5, 1: 5 }), undefined, new Set(['a']));
  assert.is(lookup(kept, 'a')?.type, 'delete');
  assert.is(lookup(kept, 'b'), undefined);
  assert.is(kept.tombstones, 1);
});

test('a batch with many keys per bucket, puts and deletes, reads like the slow way; the view before it is untouched', () => {
  // 5,000 keys over 1,024 buckets: every bucket is changed several times in one batch.
  const first: KvEvent[] = [];
  for (let i = 0; i < 5000; i++) first.push(put(0, i + 1, `key${i}`, i));
  const before = applyEvents(emptyView, first);
  const second: KvEvent[] = [];
  for (let i = 0; i < 5000; i += 2) second.push(i % 4 === 0 ? del(1, i + 1, `key${i}`) : put(1, i + 1, `key${i}`, -i));
  const after = applyEvents(before, second);
  assert.equal(viewAsObject(after), expectedWinners([...first, ...second]));
  assert.equal(viewAsObject(before), expectedWinners(first), 'the earlier view still reads as before');
  assert.is(after.liveKeys, 5000 - 1250);
  assert.is(after.tombstones, 1250);
  assert.is(before.liveKeys, 5000);
  // A bucket no event touched is shared, not copied.
  let shared = 0;
  for (let g = 0; g < before.groups.length; g++) for (let b = 0; b < before.groups[g]!.length; b++) if (before.groups[g]![b] === after.groups[g]![b]) shared++;
  assert.ok(shared < 1024, 'this batch touches nearly every bucket');
  const one = applyEvents(after, [put(2, 1, 'key1', 'one more', { 0: 5000, 1: 5000 })]);
  const found = lookup(one, 'key1');
  assert.is(found?.type === 'put' ? found.value : undefined, 'one more');
  let untouched = 0;
  for (let g = 0; g < after.groups.length; g++) for (let b = 0; b < after.groups[g]!.length; b++) if (after.groups[g]![b] === one.groups[g]![b]) untouched++;
  assert.is(untouched, 1023, 'one event copies one bucket');
});

test('viewEntries() yields every winner once', () => {
  const view = foldEvents([put(0, 1, 'a', 1), put(0, 2, 'b', 2), del(0, 3, 'a')]);
  const keys = [...viewEntries(view)].map((event) => event.key).sort();
  assert.equal(keys, ['a', 'b']);
});

test.run();
