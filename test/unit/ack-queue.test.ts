import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { AckQueue } from '../../src/node/ack-queue.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Records what each wait() resolved to, by seq, as it happens. */
function recorder() {
  const answers = new Map<number, boolean>();
  const track = (seq: number, promise: Promise<boolean>) => void promise.then((ok) => answers.set(seq, ok));
  return { answers, track };
}

test('a write already settled is answered at once; the rest wait for settle() to reach their seq', async () => {
  const queue = new AckQueue(100, 10_000, () => 0);
  const { answers, track } = recorder();
  track(1, queue.wait(1, 1));
  for (const seq of [2, 3, 4]) track(seq, queue.wait(seq, 1));
  await sleep(0);
  assert.equal([...answers], [[1, true]]);
  assert.is(queue.size, 3);
  queue.settle(3);
  await sleep(0);
  assert.equal([...answers], [[1, true], [2, true], [3, true]]);
  queue.settle(Number.POSITIVE_INFINITY);
  await sleep(0);
  assert.is(answers.get(4), true);
  assert.is(queue.size, 0);
});

test('writes not settled by their deadline are answered false, each at its own deadline, with one timer', async () => {
  let now = 0;
  const queue = new AckQueue(100, 30, () => now);
  const { answers, track } = recorder();
  track(1, queue.wait(1, 0));
  now = 20;
  track(2, queue.wait(2, 0)); // deadline 50
  now = 35;
  await sleep(45); // the front's timer (set for 30 ms) has fired
  assert.equal([...answers], [[1, false]]);
  assert.is(queue.size, 1);
  now = 60;
  await sleep(45);
  assert.equal([...answers], [[1, false], [2, false]]);
  assert.is(queue.size, 0);
});

test('answering the front early does not lose the deadline of the next one', async () => {
  let now = 0;
  const queue = new AckQueue(100, 20, () => now);
  const { answers, track } = recorder();
  track(1, queue.wait(1, 0));
  now = 10;
  track(2, queue.wait(2, 0)); // deadline 30
  queue.settle(1);
  now = 25;
  await sleep(30); // the timer set for seq 1 fires early for seq 2, answers nothing, is set again
  assert.equal([...answers], [[1, true]]);
  now = 31;
  await sleep(30);
  assert.equal([...answers], [[1, true], [2, false]]);
});

test('a full queue answers a new write false at once; releaseAll() answers every write false', async () => {
  const queue = new AckQueue(2, 10_000, () => 0);
  const { answers, track } = recorder();
  for (const seq of [1, 2, 3]) track(seq, queue.wait(seq, 0));
  await sleep(0);
  assert.equal([...answers], [[3, false]]);
  queue.releaseAll();
  await sleep(0);
  assert.equal([...answers].sort(), [[1, false], [2, false], [3, false]]);
  assert.is(queue.size, 0);
});

test('seqs out of order are a bug, not a wait', () => {
  const queue = new AckQueue(10, 10_000, () => 0);
  void queue.wait(5, 0);
  assert.throws(() => queue.wait(5, 0), /invariant violated/);
  assert.throws(() => queue.wait(4, 0), /invariant violated/);
  queue.releaseAll();
});

test('property: whatever the interleaving of waits and settles, each write is answered true exactly when settle reached its seq', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.oneof(fc.constant<'write'>('write'), fc.nat(40)), { maxLength: 60 }), async (steps) => {
      const queue = new AckQueue(1000, 10_000, () => 0);
      const { answers, track } = recorder();
      let seq = 0;
      let settled = 0;
      for (const step of steps) {
        if (step === 'write') {
          seq++;
          track(seq, queue.wait(seq, settled));
        } else {
          settled = Math.max(settled, step);
          queue.settle(settled);
        }
      }
      await sleep(0);
      for (let s = 1; s <= seq; s++) assert.is(answers.get(s), s <= settled ? true : undefined, `seq ${s}, settled ${settled}`);
      assert.is(queue.size, seq - Math.min(seq, settled));
      queue.releaseAll();
    }),
    { numRuns: 200 },
  );
});

test.run();
