import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { eventId } from '../../events/kv-event.ts';
import { compareClocks } from '../../events/vector-clock.ts';
import { compareEvents, wins } from '../../src/core/conflict-order.ts';
import { arbHistory, del, put, runHistory } from './support.ts';

test('compareEvents() puts a causally later write after an earlier one', () => {
  const first = put(0, 1, 'k', 'a');
  const second = put(1, 1, 'k', 'b', { 0: 1 });
  assert.ok(compareEvents(second, first) > 0);
  assert.ok(compareEvents(first, second) < 0);
});

test('compareEvents() breaks a tie of concurrent writes by origin, the same way on every replica', () => {
  const a = put(0, 1, 'k', 'a');
  const b = put(1, 1, 'k', 'b');
  assert.ok(compareEvents(b, a) > 0, 'the larger origin wins a tie');
  assert.is(Math.sign(compareEvents(a, b)), -Math.sign(compareEvents(b, a)));
});

test('compareEvents() orders deletes like puts', () => {
  const written = put(0, 1, 'k', 'a');
  const deleted = del(1, 1, 'k', { 0: 1 });
  assert.ok(wins(deleted, written));
  assert.not.ok(wins(written, deleted));
});

test('wins() lets anything win over nothing and nothing win over itself', () => {
  const a = put(0, 1, 'k', 'a');
  assert.ok(wins(a, undefined));
  assert.not.ok(wins(a, a));
});

test('compareEvents() is a total order that extends happens-before', () => {
  fc.assert(
    fc.property(arbHistory, (steps) => {
      const { events } = runHistory(steps);
      for (const a of events) {
        for (const b of events) {
          const cmp = compareEvents(a, b);
          if ((cmp === 0) !== (eventId(a) === eventId(b))) return false;
          if (Math.sign(cmp) !== -Math.sign(compareEvents(b, a))) return false;
          const order = compareClocks(a.clock, b.clock);
          if (order === 'before' && cmp >= 0) return false;
          if (order === 'after' && cmp <= 0) return false;
        }
      }
      // Transitivity: sorting by it gives a sequence in which every adjacent pair and every
      // causally related pair is in order.
      const sorted = [...events].sort(compareEvents);
      for (let i = 0; i < sorted.length; i++) {
        for (let j = i + 1; j < sorted.length; j++) {
          if (compareEvents(sorted[i]!, sorted[j]!) >= 0) return false;
        }
      }
      return true;
    }),
    { numRuns: 200 },
  );
});

test.run();
