import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PendingBuffer } from '../../src/core/pending-buffer.ts';
import { clock, id, put } from './support.ts';

test('add() keeps events up to the bound and refuses more', () => {
  const buffer = new PendingBuffer(2);
  assert.ok(buffer.add(put(0, 2, 'k', 1)));
  assert.ok(buffer.add(put(0, 3, 'k', 1)));
  assert.not.ok(buffer.add(put(1, 2, 'k', 1)), 'full');
  assert.is(buffer.size, 2);
});

test('add() of an event already held is a no-op that succeeds, even when full', () => {
  const buffer = new PendingBuffer(1);
  assert.ok(buffer.add(put(0, 2, 'k', 1)));
  assert.ok(buffer.add(put(0, 2, 'k', 1)));
  assert.is(buffer.size, 1);
});

test('next() finds the event that follows a delivered seq', () => {
  const buffer = new PendingBuffer(10);
  const third = put(0, 3, 'k', 3);
  buffer.add(third);
  assert.is(buffer.next(id(0), 2), third);
  assert.is(buffer.next(id(0), 1), undefined);
  assert.is(buffer.next(id(1), 2), undefined);
});

test('remove() forgets an event and its origin once empty', () => {
  const buffer = new PendingBuffer(10);
  const event = put(0, 3, 'k', 3);
  buffer.add(event);
  buffer.remove(event);
  buffer.remove(event);
  assert.is(buffer.size, 0);
  assert.equal([...buffer.origins()], []);
});

test('dropCovered() drops what a clock covers and keeps the rest', () => {
  const buffer = new PendingBuffer(10);
  for (const seq of [2, 3, 5]) buffer.add(put(0, seq, 'k', seq));
  buffer.add(put(1, 4, 'k', 4));
  buffer.add(put(2, 9, 'k', 9));
  buffer.dropCovered(clock({ 0: 3, 1: 4 }));
  assert.is(buffer.size, 2);
  assert.is(buffer.next(id(0), 4)?.seq, 5);
  assert.is(buffer.next(id(0), 1), undefined);
  assert.equal([...buffer.origins()].sort(), [id(0), id(2)].sort());
  assert.ok(buffer.add(put(1, 6, 'k', 6)), 'room again after dropping');
});

test.run();
