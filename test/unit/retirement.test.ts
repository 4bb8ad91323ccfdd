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

// An event can wait for good: its causal past holds an event of an ended life that no replica
// holds any more (found by review: such events stayed pending for good, and since what waits
// counts in the stability join, no tombstone was collected again). Retiring the lost event's life
// drops what waits for it, which may leave another ended life's next event held nowhere: a cascade.

/** Exchanges among `replicas` every 50 ms until `until`; returns the time reached. */
function settle(replicas: readonly Replica[], from: number, until: number): number {
  let now = from;
  for (; now < until; now += 50) exchangeAll(replicas, now);
  return now;
}

/** A, B and C in their first lives, C's write of k = 1 delivered everywhere. */
function firstLives(): { a: Replica; b1: Replica; c1: Replica; now: number } {
  const [a, b1, c1] = [replica(A, '001'), replica(B, '001'), replica(C, '001')];
  c1.write('k', 1, emptyClock);
  let now = 0;
  for (; now < 50; now += 10) exchangeAll([a, b1, c1], now);
  return { a, b1, c1, now };
}

/** The next life at `address`, started. */
function nextLife(address: Address, now: number): Replica {
  const next = replica(address, '002');
  next.start(now);
  return next;
}

test('an event that waits for a lost event of an ended life goes when that life is retired, and tombstones are collected again', () => {
  const { a, b1, c1, now: start } = firstLives();
  // C's second write reaches B's first life only; B writes after it; then both lives end.
  const lost = c1.write('k', 2, c1.clock).event;
  b1.receiveEvents([lost]);
  a.receiveEvents([b1.write('j', 'x', b1.clock).event]);
  assert.is(a.pendingSize, 1, 'A holds B\'s write, waiting for C\'s lost write');
  const [b2, c2] = [nextLife(B, start), nextLife(C, start)];
  a.write('gone', 'soon', a.clock);
  let now = settle([a, b2, c2], start, start + 200);
  a.write('gone', undefined, a.clock);
  now = settle([a, b2, c2], now, now + settings.retireAfterMs + 3000);
  for (const r of [a, b2, c2]) {
    assert.is(r.pendingSize, 0, `${r.self} still waits`);
    assert.is(r.clock[c1.id], undefined, `${r.self} did not retire C's first life`);
    assert.is(r.clock[b1.id], undefined, `${r.self} did not retire B's first life`);
    assert.is(r.describe(now).tombstones, 0, `${r.self} still holds the tombstone of "gone"`);
    assert.is(valueAt(r, 'k'), 1);
    assert.is(valueAt(r, 'j'), undefined);
  }
});

test('lost events that two ended lives wait for in turn are dropped in a cascade of retirements', () => {
  const { a, b1, c1, now: start } = firstLives();
  // C#2 reaches B only; B#1 follows it; C#3 follows B#1. A holds B#1 and C#3, both waiting for C#2.
  const lost = c1.write('k', 2, c1.clock).event;
  b1.receiveEvents([lost]);
  const fromB = b1.write('j', 'b', b1.clock).event;
  c1.receiveEvents([fromB]);
  a.receiveEvents([fromB, c1.write('i', 'c', c1.clock).event]);
  assert.is(a.pendingSize, 2);
  const [b2, c2] = [nextLife(B, start), nextLife(C, start)];
  settle([a, b2, c2], start, start + 2 * settings.retireAfterMs + 3000);
  for (const r of [a, b2, c2]) {
    assert.is(r.pendingSize, 0, `${r.self} still waits`);
    assert.ok(Object.keys(r.clock).every((id) => [a.id, b2.id, c2.id].includes(id as ReplicaId)), `${r.self}'s clock keeps ended lives: ${JSON.stringify(r.clock)}`);
    for (const key of ['j', 'i']) assert.is(valueAt(r, key), undefined);
  }
});

test('an ended life is not retired while a replica holds its next event waiting for a past that is only late', () => {
  const { a, b1: b, c1, now: start } = firstLives();
  // B writes; C's first life sees it and writes after it, then ends. A gets C's write before B's.
  const fromB = b.write('j', 'b', b.clock).event;
  c1.receiveEvents([fromB]);
  a.receiveEvents([c1.write('k', 2, c1.clock).event]);
  const c2 = nextLife(C, start);
  // B is cut off past RETIRE_AFTER_MS. Once it is back, A holds C's write until B's arrives: C's
  // first life must not be retired at 1 by B or C meanwhile, or A alone would have k = 2.
  let now = start;
  for (const end = now + settings.retireAfterMs + 2000; now < end; now += 50) exchangeAll([a, b, c2], now, { isolated: new Set([B]) });
  assert.is(a.pendingSize, 1);
  settle([a, b, c2], now, now + settings.retireAfterMs + 3000);
  for (const r of [a, b, c2]) {
    assert.is(valueAt(r, 'k'), 2, `${r.self} lost C's write that waited at A`);
    assert.is(r.pendingSize, 0);
  }
});

test.run();
