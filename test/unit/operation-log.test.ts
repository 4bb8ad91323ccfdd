import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { eventId } from '../../events/kv-event.ts';
import { OperationLog } from '../../src/core/operation-log.ts';
import { clock, id, put } from './support.ts';

function logOf(counts: Record<number, number>): OperationLog {
  const log = new OperationLog();
  for (const [origin, count] of Object.entries(counts)) {
    for (let seq = 1; seq <= count; seq++) log.append(put(Number(origin), seq, `k${seq}`, seq));
  }
  return log;
}

const seqs = (events: Iterable<{ seq: number }>) => [...events].map((event) => event.seq);

test('append() keeps each origin in seq order and counts held events', () => {
  const log = logOf({ 0: 3, 1: 2 });
  assert.is(log.length, 5);
  assert.is(log.lastSeq(id(0)), 3);
  assert.is(log.lastSeq(id(1)), 2);
  assert.is(log.lastSeq(id(2)), 0);
  assert.equal(seqs(log.events({ origin: id(0) })), [1, 2, 3]);
  assert.equal([...log.originIds()], [id(0), id(1)]);
});

test('append() refuses a gap or a repeat: that is a bug, not bad input', () => {
  const log = logOf({ 0: 2 });
  assert.throws(() => log.append(put(0, 4, 'k', 4)), /invariant violated: log gap appending .*#4/);
  assert.throws(() => log.append(put(0, 2, 'k', 2)), /invariant violated/);
  assert.throws(() => new OperationLog().append(put(1, 2, 'k', 2)), /invariant violated/);
});

test('suffix() returns the held events after a seq, at most max', () => {
  const log = logOf({ 0: 5 });
  assert.equal(seqs(log.suffix(id(0), 0, 10)!), [1, 2, 3, 4, 5]);
  assert.equal(seqs(log.suffix(id(0), 2, 10)!), [3, 4, 5]);
  assert.equal(seqs(log.suffix(id(0), 2, 2)!), [3, 4]);
  assert.equal(log.suffix(id(0), 5, 10), []);
  assert.equal(log.suffix(id(3), 0, 10), [], 'an unknown origin has an empty suffix after 0');
  assert.is(log.suffix(id(3), 1, 10), undefined, 'but cannot serve anything after 1');
});

test('compact() drops stable events, moves the floor and makes older suffixes unavailable', () => {
  const log = logOf({ 0: 5, 1: 2 });
  assert.is(log.compact(clock({ 0: 3, 2: 7 })), 3);
  assert.is(log.length, 4);
  assert.is(log.floorOf(id(0)), 3);
  assert.is(log.floorOf(id(1)), 0);
  assert.is(log.lastSeq(id(0)), 5);
  assert.equal(seqs(log.events({ origin: id(0) })), [4, 5]);
  assert.is(log.suffix(id(0), 2, 10), undefined);
  assert.equal(seqs(log.suffix(id(0), 3, 10)!), [4, 5]);
  assert.is(log.compact(clock({ 0: 3 })), 0, 'compacting again drops nothing');
  assert.is(log.compact(clock({ 0: 99 })), 2, 'never past what is held');
  assert.is(log.floorOf(id(0)), 5);
  assert.is(log.lastSeq(id(0)), 5);
  log.append(put(0, 6, 'k', 6));
  assert.equal(seqs(log.suffix(id(0), 5, 10)!), [6]);
});

test('compact() keeps working after trimming a long array', () => {
  const log = logOf({ 0: 3000 });
  log.compact(clock({ 0: 2000 }));
  assert.is(log.length, 1000);
  assert.equal(seqs(log.suffix(id(0), 2000, 3)!), [2001, 2002, 2003]);
  log.compact(clock({ 0: 2990 }));
  assert.equal(seqs(log.suffix(id(0), 2995, 10)!), [2996, 2997, 2998, 2999, 3000]);
  log.append(put(0, 3001, 'k', 1));
  assert.is(log.lastSeq(id(0)), 3001);
  assert.is(log.length, 11);
});

test('advanceFloor() past the held events drops them and continues after the new floor', () => {
  const log = logOf({ 0: 3, 1: 1 });
  log.advanceFloor(id(0), 10);
  assert.is(log.length, 1);
  assert.is(log.floorOf(id(0)), 10);
  assert.is(log.lastSeq(id(0)), 10);
  assert.equal(seqs(log.events({ origin: id(0) })), []);
  assert.is(log.suffix(id(0), 3, 10), undefined);
  log.append(put(0, 11, 'k', 11));
  assert.equal(seqs(log.suffix(id(0), 10, 10)!), [11]);
  log.advanceFloor(id(2), 4);
  assert.is(log.lastSeq(id(2)), 4, 'an origin first seen in a snapshot starts at its floor');
});

test('advanceFloor() within the held events compacts up to there', () => {
  const log = logOf({ 0: 5 });
  log.advanceFloor(id(0), 2);
  assert.is(log.floorOf(id(0)), 2);
  assert.equal(seqs(log.events()), [3, 4, 5]);
  assert.is(log.length, 3);
});

test('events() filters by origin and by key', () => {
  const log = logOf({ 0: 3, 1: 3 });
  assert.is([...log.events()].length, 6);
  assert.equal([...log.events({ key: 'k2' })].map(eventId), [`${id(0)}#2`, `${id(1)}#2`]);
  assert.equal([...log.events({ origin: id(1), key: 'k3' })].map(eventId), [`${id(1)}#3`]);
});

test.run();
