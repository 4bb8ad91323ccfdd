// A replica that installs a snapshot (a joiner, or a restart from a stored snapshot) must keep an
// entry whose clock names only lives the snapshot's sender retired: it never delivered them, so the
// entry is not "delivered here and deleted since" (found by review: such keys were dropped, and
// anti-entropy never repaired it, since the replica's clock covered everything).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Address } from '../../events/ids.ts';
import { emptyClock } from '../../events/vector-clock.ts';
import { Replica } from '../../src/core/replica.ts';
import { addresses, exchangeAll, testLimits, testSettings } from './support.ts';

const [A, B, C] = [addresses[0]!, addresses[1]!, addresses[2]!];
const settings = { ...testSettings, retireAfterMs: 1000, compactionIntervalMs: 100 };

function replica(self: Address, incarnation: string): Replica {
  const r = new Replica({ self, incarnation, boot: incarnation, initialView: [A, B, C], limits: testLimits, settings, now: 0 });
  r.onDelivered = (events) => {
    const last = events.at(-1)!;
    if (last.origin === r.id) r.ownStoredUpTo(last.seq);
    r.storedUpTo(r.clock);
  };
  return r;
}

test('a key last written by a retired life is missing at a replica that joins afterwards', () => {
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
  assert.is(a.read('k', emptyClock).found?.value, 'v');
  // C restarts again (no DATA_DIR): its new life joins by pulling A's snapshot.
  const c3 = replica(C, '003');
  c3.start(now);
  for (let t = now + 3000; now < t; now += 50) exchangeAll([a, b, c3], now);
  assert.ok(c3.joined);
  assert.is(b.read('k', emptyClock).found?.value, 'v');
  assert.is(c3.read('k', emptyClock).found?.value, 'v', 'the joiner lacks k, which every other replica holds');
});

test('a restart from DATA_DIR loses the same keys: restore() installs the stored snapshot the same way', () => {
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
  const stored = a.storedSnapshot();
  assert.ok(stored.entries.some((e) => e.key === 'k'), 'the stored snapshot holds k');
  const a2 = replica(A, '001');
  a2.restore(stored, []);
  assert.is(a2.read('k', emptyClock).found?.value, 'v', 'restored A lacks k');
});

test.run();
