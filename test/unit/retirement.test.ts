import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { replicaId, type Address, type ReplicaId } from '../../events/ids.ts';
import { emptyClock } from '../../events/vector-clock.ts';
import { compareEvents, placeOf } from '../../src/core/conflict-order.ts';
import { lookup } from '../../src/core/kv-view.ts';
import { compareIncarnations } from '../../src/core/retired-lives.ts';
import { Replica } from '../../src/core/replica.ts';
import { addresses, exchangeAll, testLimits, testSettings } from './support.ts';

const [A, B, C] = [addresses[0]!, addresses[1]!, addresses[2]!];
const settings = { ...testSettings, retireAfterMs: 1000, compactionIntervalMs: 100 };

/** A replica as with no DATA_DIR: own writes count as stored at once. */
function replica(self: Address, incarnation: string, replicaSettings = settings): Replica {
  const r = new Replica({ self, incarnation, boot: incarnation, initialView: [A, B, C], limits: testLimits, settings: replicaSettings, now: 0 });
  r.onDelivered = (events) => {
    const last = events.at(-1)!;
    if (last.origin === r.id) r.ownStoredUpTo(last.seq);
    r.storedUpTo(r.clock);
  };
  return r;
}

/** Three replicas; C writes `writes` times in its first life, then restarts as a second life that announces itself. */
function clusterWithEndedLife(writes: number): { a: Replica; b: Replica; c2: Replica; oldLife: ReplicaId; now: number } {
  const a = replica(A, '001');
  const b = replica(B, '001');
  const c1 = replica(C, '001');
  let now = 0;
  let metadata = emptyClock;
  for (let i = 0; i < writes; i++) metadata = c1.write('k', i, metadata).event.clock;
  for (; now < 50; now += 10) exchangeAll([a, b, c1], now);
  assert.is(a.clock[c1.id], writes);
  const c2 = replica(C, '002');
  c2.start(now);
  for (; now < 200; now += 10) exchangeAll([a, b, c2], now);
  return { a, b, c2, oldLife: c1.id, now };
}

test('incarnations at one address order by length, then as text', () => {
  assert.ok(compareIncarnations('001', '002') < 0);
  assert.ok(compareIncarnations('zz', '001') < 0, 'a longer one is later');
  assert.is(compareIncarnations('mh3k2', 'mh3k2'), 0);
});

test('an ended life is retired everywhere once it is stable and quiet: its entry leaves every clock, and stays satisfied', () => {
  const { a, b, c2, oldLife, now: start } = clusterWithEndedLife(3);
  assert.ok(a.clock[oldLife] === 3 && b.clock[oldLife] === 3, 'not before retireAfterMs');
  let now = start;
  for (; now < start + settings.retireAfterMs + 1000; now += 50) exchangeAll([a, b, c2], now);
  for (const r of [a, b, c2]) {
    assert.is(r.clock[oldLife], undefined, `${r.self} still counts ${oldLife}`);
    assert.ok(r.covers({ [oldLife]: 3 }), 'metadata naming the old life up to its final seq is satisfied');
    assert.ok(r.retiredLives > 0);
  }
  const read = a.read('k', { [oldLife]: 2 } as never);
  assert.is(read.metadata[oldLife], undefined, 'metadata handed out drops the retired entry');
  assert.equal(read.found?.type === 'put' ? read.found.value : undefined, 2);
});

test('a write made after a retirement comes after every event in its past, on replicas that retired and those that did not', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 30 }), (writes) => {
      const { a, b, c2, oldLife, now: start } = clusterWithEndedLife(writes);
      const last = [...a.logEvents({ origin: oldLife })].at(-1)!;
      let now = start;
      for (; now < start + settings.retireAfterMs + 1000; now += 100) exchangeAll([a, b, c2], now);
      if (a.clock[oldLife] !== undefined) return false;
      // The retired life's events no longer count in the clock's sum: the new write's place says it comes after them.
      const after = a.write('k', 'after', a.clock).event;
      return compareEvents(after, last) > 0 && placeOf(after) > placeOf(last) && a.read('k', emptyClock).found === after;
    }),
    { numRuns: 15 },
  );
});

test('a late copy of a retired life\'s event is dropped, and old ids stay retired', () => {
  const { a, b, c2, oldLife, now: start } = clusterWithEndedLife(2);
  let now = start;
  for (; now < start + settings.retireAfterMs + 1000; now += 50) exchangeAll([a, b, c2], now);
  const late = { type: 'put' as const, origin: oldLife, seq: 3, key: 'late', value: 1, clock: { [oldLife]: 3 } as never };
  a.receiveEvents([late]);
  assert.is(a.read('late', emptyClock).found, undefined);
  assert.is(a.pendingSize, 0);
  assert.ok(a.covers({ [replicaId(C, '000')]: 99 } as never), 'an even older life at the address is retired too');
  assert.not.ok(a.covers({ [replicaId(C, '003')]: 1 } as never), 'a later life is not');
});

// A replica that installs a snapshot (a joiner, or a restart from a stored snapshot) must keep an
// entry whose clock names only lives the snapshot's sender retired: it never delivered them, so the
// entry is not "delivered here and deleted since" (found by review: such keys were dropped, and
// anti-entropy never repaired it, since the replica's clock covered everything).

const valueAt = (r: Replica, key: string): unknown => {
  const found = r.read(key, emptyClock).found;
  return found?.type === 'put' ? found.value : undefined;
};

/** C's first life writes k = v, then C restarts; A and B retire the first life. */
function keyOfRetiredLife(): { a: Replica; b: Replica; now: number } {
  const a = replica(A, '001');
  const b = replica(B, '001');
  const c1 = replica(C, '001');
  let now = 0;
  c1.write('k', 'v', emptyClock);
  for (; now < 50; now += 10) exchangeAll([a, b, c1], now);
  const c2 = replica(C, '002');
  c2.start(now);
  for (; now < 5000; now += 50) exchangeAll([a, b, c2], now);
  assert.is(a.clock[c1.id], undefined, 'A retired the old life');
  assert.is(valueAt(a, 'k'), 'v');
  return { a, b, now };
}

test('a replica that joins after a life was retired gets the keys that life wrote last', () => {
  const { a, b, now: start } = keyOfRetiredLife();
  // C restarts again (no DATA_DIR): its new life joins by pulling a snapshot.
  const c3 = replica(C, '003');
  c3.start(start);
  for (let now = start; now < start + 3000; now += 50) exchangeAll([a, b, c3], now);
  assert.ok(c3.joined);
  assert.is(valueAt(b, 'k'), 'v');
  assert.is(valueAt(c3, 'k'), 'v', 'the joiner has k, as every other replica');
});

test('a replica restored from a stored snapshot keeps the keys of lives it had retired', () => {
  const { a } = keyOfRetiredLife();
  const stored = a.storedSnapshot();
  assert.ok(stored.entries.some((entry) => entry.key === 'k'), 'the stored snapshot holds k');
  const restored = replica(A, '001');
  restored.restore(stored, []);
  assert.is(valueAt(restored, 'k'), 'v', 'restored A has k');
});

test('a write after a delete, made by a replica that joined once the tombstone was collected elsewhere, is placed after the delete everywhere', () => {
  const a = replica(A, '001');
  // B's compaction runs much later than A's (each process has its own timers): it still holds the tombstone.
  const b = replica(B, '001', { ...settings, compactionIntervalMs: 1_000_000 });
  const c1 = replica(C, '001');
  let now = 0;
  let metadata = emptyClock;
  for (let i = 0; i < 10; i++) metadata = c1.write('k', i, metadata).metadata;
  for (; now < 50; now += 10) exchangeAll([a, b, c1], now);
  const deleted = a.write('k', undefined, a.clock).event;
  for (; now < 100; now += 10) exchangeAll([a, b, c1], now);
  const c2 = replica(C, '002');
  c2.start(now);
  for (; now < 5000; now += 50) exchangeAll([a, b, c2], now);
  assert.is(a.clock[c1.id], undefined, 'A retired the old life');
  assert.is(lookup(a.viewSnapshot(), 'k'), undefined, 'A collected the tombstone');
  assert.is(lookup(b.viewSnapshot(), 'k')?.type, 'delete', 'B still holds it');
  // C restarts again: its new life pulls its snapshot from A, which holds no trace of the delete but its place bound.
  const c3 = replica(C, '003');
  c3.start(now);
  for (const end = now + 50; now < end; now += 10) exchangeAll([a, b, c3], now);
  assert.ok(c3.joined);
  const written = c3.write('k', 'after-delete', c3.clock).event;
  assert.ok(placeOf(written) > placeOf(deleted), `placed after the delete it follows: ${placeOf(written)} against ${placeOf(deleted)}`);
  for (const end = now + 2000; now < end; now += 50) exchangeAll([a, b, c3], now);
  for (const r of [a, b, c3]) assert.is(valueAt(r, 'k'), 'after-delete');
});

test.run();
