import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { WriteAcks } from '../../src/core/write-acks.ts';

const timeoutMs = 1000;
const storeWaitMs = 5000;
/** Storage that holds every write at once (no DATA_DIR). */
const allStored = Number.POSITIVE_INFINITY;
const none = { acknowledged: [], unstored: [] };

test('parked writes are answered in order once settled, and the first unsettled one stops the walk', () => {
  const acks = new WriteAcks<string>(10, timeoutMs, storeWaitMs);
  for (const seq of [1, 2, 3]) assert.is(acks.park(seq, `w${seq}`, 0, allStored, 0), 'parked');
  assert.is(acks.size, 3);
  assert.equal(acks.take(0, allStored, 10), none);
  assert.equal(acks.take(2, allStored, 10), { acknowledged: ['w1', 'w2'], unstored: [] });
  assert.is(acks.size, 1);
  assert.equal(acks.take(2, allStored, 20), none, 'each is answered once');
  assert.equal(acks.take(3, allStored, 30), { acknowledged: ['w3'], unstored: [] });
  assert.is(acks.size, 0);
  assert.is(acks.nextDeadline(allStored), undefined);
});

test('a write already settled, with no wait allowed, or beyond the bound is not parked: it is answered at once', () => {
  const acks = new WriteAcks<number>(2, timeoutMs, storeWaitMs);
  assert.is(acks.park(1, 1, 1, allStored, 0), 'answer', 'already settled');
  assert.is(acks.park(2, 2, 1, allStored, 0), 'parked');
  assert.is(acks.park(3, 3, 1, allStored, 0), 'parked');
  assert.is(acks.park(4, 4, 1, allStored, 0), 'answer', 'the queue is full');
  assert.is(acks.size, 2);
  assert.equal(acks.take(2, allStored, 0), { acknowledged: [2], unstored: [] });
  assert.is(acks.park(5, 5, 2, allStored, 0), 'parked', 'room again once one is answered');
  assert.is(new WriteAcks<number>(10, 0, storeWaitMs).park(1, 1, 0, allStored, 0), 'answer', 'a zero timeout never waits');
});

test('a parked write expires at its deadline, settled or not, in order', () => {
  const acks = new WriteAcks<number>(10, timeoutMs, storeWaitMs);
  acks.park(1, 1, 0, allStored, 0);
  acks.park(2, 2, 0, allStored, 500);
  assert.is(acks.nextDeadline(allStored), 1000);
  assert.equal(acks.take(0, allStored, 999), none);
  assert.equal(acks.take(0, allStored, 1000), { acknowledged: [1], unstored: [] });
  assert.is(acks.nextDeadline(allStored), 1500);
  assert.equal(acks.take(0, allStored, 1500), { acknowledged: [2], unstored: [] });
});

test('a write storage does not hold yet is never acknowledged: not at its deadline, not when the queue is full, not with no timeout', () => {
  const acks = new WriteAcks<number>(2, timeoutMs, storeWaitMs);
  assert.is(acks.park(1, 1, 0, 0, 0), 'parked');
  assert.is(acks.park(2, 2, 0, 0, 100), 'parked');
  assert.is(acks.nextDeadline(0), storeWaitMs, 'the front waits for storage, not for its peer deadline');
  assert.equal(acks.take(0, 0, timeoutMs + 100), none, 'past the peer deadline, not stored: still waiting');
  assert.is(acks.park(3, 3, 0, 0, 200), 'unstored', 'the queue is full and storage does not hold it: refused at once');
  assert.is(acks.park(3, 3, 0, 3, 200), 'answer', 'the queue is full and storage holds it: answered at once, as without a DATA_DIR');
  // Storage takes write 1: past its peer deadline, it is acknowledged; write 2 is not stored yet.
  assert.equal(acks.take(0, 1, 2000), { acknowledged: [1], unstored: [] });
  assert.is(acks.nextDeadline(1), 100 + storeWaitMs);
  assert.equal(acks.take(0, 1, 100 + storeWaitMs), { acknowledged: [], unstored: [2] }, 'not stored within storeWaitMs: handed back as unstored');
  assert.is(acks.size, 0);
  const noTimeout = new WriteAcks<number>(10, 0, storeWaitMs);
  assert.is(noTimeout.park(1, 1, 0, 0, 0), 'parked', 'no peer wait, but storage must hold it first');
  assert.equal(noTimeout.take(0, 1, 0), { acknowledged: [1], unstored: [] });
});

test('seqs must grow along the queue: parking one out of order is a bug', () => {
  const acks = new WriteAcks<number>(10, timeoutMs, storeWaitMs);
  acks.park(5, 5, 0, allStored, 0);
  assert.throws(() => acks.park(5, 5, 0, allStored, 0), /invariant violated: write 5 queued after 5/);
  assert.throws(() => acks.park(3, 3, 0, allStored, 0), /invariant violated/);
  acks.take(5, allStored, 0);
  assert.is(acks.park(6, 6, 0, allStored, 0), 'parked', 'the queue drained: the next write parks');
});

test('whatever the order of parks, stores and takes: every write is answered exactly once, in seq order, acknowledged only once stored and settled or due, refused only unstored', () => {
  const step = fc.oneof(
    fc.record({ kind: fc.constant('park' as const), gap: fc.integer({ min: 1, max: 3 }), settledBehind: fc.integer({ min: 0, max: 4 }) }),
    fc.record({ kind: fc.constant('take' as const), settle: fc.integer({ min: 0, max: 4 }), store: fc.integer({ min: 0, max: 4 }), advance: fc.integer({ min: 0, max: 3000 }) }),
  );
  fc.assert(
    fc.property(fc.array(step, { maxLength: 60 }), fc.integer({ min: 1, max: 8 }), fc.integer({ min: 0, max: 2000 }), (steps, waitingMax, timeout) => {
      const acks = new WriteAcks<{ seq: number; madeAt: number }>(waitingMax, timeout, storeWaitMs);
      let seq = 0;
      let stored = 0;
      let settled = 0; // never past stored: another replica holding a write counts only once our storage holds it too
      let now = 0;
      const answeredAt = new Map<number, 'answer' | 'unstored'>();
      const order: number[] = [];
      const check = (ticket: { seq: number; madeAt: number }, how: 'answer' | 'unstored'): void => {
        assert.not.ok(answeredAt.has(ticket.seq), `write ${ticket.seq} answered twice`);
        answeredAt.set(ticket.seq, how);
        if (how === 'answer') assert.ok(ticket.seq <= stored, `write ${ticket.seq} acknowledged before storage held it`);
        if (how === 'answer') assert.ok(ticket.seq <= settled || ticket.madeAt + timeout <= now, `write ${ticket.seq} acknowledged early`);
        if (how === 'unstored') assert.ok(ticket.seq > stored && ticket.madeAt + storeWaitMs <= now, `write ${ticket.seq} refused while stored or early`);
      };
      for (const s of steps) {
        if (s.kind === 'park') {
          seq += s.gap;
          const ticket = { seq, madeAt: now };
          const outcome = acks.park(seq, ticket, Math.min(stored, Math.max(settled, seq - 1 - s.settledBehind)), stored, now);
          if (outcome === 'parked') order.push(seq);
          else {
            assert.not.ok(outcome === 'unstored' && seq <= stored, 'a stored write is never refused');
            assert.not.ok(outcome === 'answer' && seq > stored, 'an unstored write is never answered at once');
            answeredAt.set(seq, outcome);
          }
        } else {
          stored = Math.min(seq, stored + s.store);
          settled = Math.min(stored, settled + s.settle);
          now += s.advance;
          const taken = acks.take(settled, stored, now);
          for (const ticket of taken.acknowledged) check(ticket, 'answer');
          for (const ticket of taken.unstored) check(ticket, 'unstored');
          // In seq order across both lists: a walk from the front.
          const seqs = [...taken.acknowledged, ...taken.unstored].map((t) => t.seq).sort((a, b) => a - b);
          const expected = order.splice(0, seqs.length);
          assert.equal(seqs, expected);
        }
      }
      stored = seq;
      settled = seq;
      const rest = acks.take(Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY, now);
      assert.equal(rest.unstored, []);
      assert.equal(rest.acknowledged.map((t) => t.seq), order);
      assert.is(acks.size, 0);
    }),
  );
});

test.run();
