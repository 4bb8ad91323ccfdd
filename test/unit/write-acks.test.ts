import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { WriteAcks } from '../../src/core/write-acks.ts';

const timeoutMs = 1000;

test('parked writes are answered in order once settled, and the first unsettled one stops the walk', () => {
  const acks = new WriteAcks<string>(10, timeoutMs);
  for (const seq of [1, 2, 3]) assert.ok(acks.park(seq, `w${seq}`, 0, 0));
  assert.is(acks.size, 3);
  assert.equal(acks.take(0, 10), []);
  assert.equal(acks.take(2, 10), ['w1', 'w2']);
  assert.is(acks.size, 1);
  assert.equal(acks.take(2, 20), [], 'each is answered once');
  assert.equal(acks.take(3, 30), ['w3']);
  assert.is(acks.size, 0);
  assert.is(acks.nextDeadline(), undefined);
});

test('a write already settled, with no wait allowed, or beyond the bound is not parked: it is answered at once', () => {
  const acks = new WriteAcks<number>(2, timeoutMs);
  assert.not.ok(acks.park(1, 1, 1, 0), 'already settled');
  assert.ok(acks.park(2, 2, 1, 0));
  assert.ok(acks.park(3, 3, 1, 0));
  assert.not.ok(acks.park(4, 4, 1, 0), 'the queue is full');
  assert.is(acks.size, 2);
  assert.equal(acks.take(2, 0), [2]);
  assert.ok(acks.park(5, 5, 2, 0), 'room again once one is answered');
  assert.not.ok(new WriteAcks<number>(10, 0).park(1, 1, 0, 0), 'a zero timeout never waits');
});

test('a parked write expires at its deadline, settled or not, in order', () => {
  const acks = new WriteAcks<number>(10, timeoutMs);
  acks.park(1, 1, 0, 0);
  acks.park(2, 2, 0, 500);
  assert.is(acks.nextDeadline(), 1000);
  assert.equal(acks.take(0, 999), []);
  assert.equal(acks.take(0, 1000), [1]);
  assert.is(acks.nextDeadline(), 1500);
  assert.equal(acks.take(0, 1500), [2]);
});

test('seqs must grow along the queue: parking one out of order is a bug', () => {
  const acks = new WriteAcks<number>(10, timeoutMs);
  acks.park(5, 5, 0, 0);
  assert.throws(() => acks.park(5, 5, 0, 0), /invariant violated: write 5 queued after 5/);
  assert.throws(() => acks.park(3, 3, 0, 0), /invariant violated/);
  acks.take(5, 0);
  assert.ok(acks.park(6, 6, 0, 0), 'the queue drained: the next write parks');
});

test('whatever the order of parks and takes, every parked write is answered exactly once, in seq order, never before it is settled or due', () => {
  const step = fc.oneof(
    fc.record({ kind: fc.constant('park' as const), gap: fc.integer({ min: 1, max: 3 }), settledBehind: fc.integer({ min: 0, max: 4 }) }),
    fc.record({ kind: fc.constant('take' as const), settle: fc.integer({ min: 0, max: 4 }), advance: fc.integer({ min: 0, max: 700 }) }),
  );
  fc.assert(
    fc.property(fc.array(step, { maxLength: 60 }), fc.integer({ min: 1, max: 8 }), (steps, waitingMax) => {
      const acks = new WriteAcks<{ seq: number; deadline: number }>(waitingMax, timeoutMs);
      let seq = 0;
      let settled = 0;
      let now = 0;
      const parked: number[] = [];
      const answered: number[] = [];
      for (const s of steps) {
        if (s.kind === 'park') {
          seq += s.gap;
          if (acks.park(seq, { seq, deadline: now + timeoutMs }, Math.max(settled, seq - 1 - s.settledBehind), now)) parked.push(seq);
        } else {
          settled = Math.min(seq, settled + s.settle);
          now += s.advance;
          for (const ticket of acks.take(settled, now)) {
            assert.ok(ticket.seq <= settled || ticket.deadline <= now, `write ${ticket.seq} answered early`);
            answered.push(ticket.seq);
          }
        }
      }
      for (const ticket of acks.take(Number.POSITIVE_INFINITY, now)) answered.push(ticket.seq);
      assert.equal(answered, parked);
      assert.is(acks.size, 0);
    }),
  );
});

test.run();
