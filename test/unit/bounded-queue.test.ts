import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { BoundedQueue } from '../../src/observability/bounded-queue.ts';

test('push() onto a full queue drops the oldest item', () => {
  const queue = new BoundedQueue<number>(3);
  for (const n of [1, 2, 3, 4]) queue.push(n);
  assert.equal([...queue], [2, 3, 4]);
  assert.is(queue.length, 3);
  assert.is(queue.peek(), 2);
});

test('shift() takes items oldest first and answers undefined when empty', () => {
  const queue = new BoundedQueue<string>(10);
  queue.push('a');
  queue.push('b');
  assert.is(queue.shift(), 'a');
  assert.is(queue.shift(), 'b');
  assert.is(queue.shift(), undefined);
  assert.is(queue.peek(), undefined);
  assert.is(queue.length, 0);
});

test('a queue refuses a bound that is not a positive integer', () => {
  assert.throws(() => new BoundedQueue(0));
  assert.throws(() => new BoundedQueue(1.5));
});

test('any sequence of pushes and shifts behaves like an array cut to the bound', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 3000 }), fc.array(fc.integer({ min: -1, max: 5000 }), { maxLength: 6000, size: 'max' }), (max, ops) => {
      const queue = new BoundedQueue<number>(max);
      const model: number[] = [];
      for (const op of ops) {
        if (op < 0) {
          assert.is(queue.shift(), model.shift());
        } else {
          queue.push(op);
          model.push(op);
          if (model.length > max) model.shift();
        }
        assert.is(queue.length, model.length);
      }
      assert.equal([...queue], model);
      assert.is(queue.peek(), model[0]);
    }),
    { numRuns: 60 },
  );
});

test.run();
