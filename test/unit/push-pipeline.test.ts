import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PushPipeline } from '../../src/core/push-pipeline.ts';
import type { SnapshotSource } from '../../src/core/snapshot-source.ts';
import { addresses, clock, id, put } from './support.ts';

const self = id(0);
const backOffMs = 500;
const own = [put(0, 1, 'a', 1), put(0, 2, 'b', 2, { 0: 1 })];
const other = put(1, 1, 'c', 3);
const source: SnapshotSource = { snapshotId: 'a-1', clock: clock({ 0: 2, 1: 1 }), view: [addresses[0]!], entries: [...own, other], retired: {}, maxPlace: 3 };

test('a new pipeline is idle and may push at once', () => {
  const pipeline = new PushPipeline(100);
  assert.equal(pipeline.state, { kind: 'idle' });
  assert.not.ok(pipeline.busy);
  assert.is(pipeline.nextPushAt, 100);
  assert.is(pipeline.ownSentSeq, 0);
});

test('events in flight make it busy and record the highest own event sent, and when; the answer makes it idle', () => {
  const pipeline = new PushPipeline(0);
  pipeline.sendEvents([other, ...own], self, 10);
  assert.equal(pipeline.state, { kind: 'events-in-flight' });
  assert.ok(pipeline.busy);
  assert.is(pipeline.ownSentSeq, 2, 'only our own events count');
  assert.is(pipeline.ownSentAt, 10);
  assert.is(pipeline.accepted(true), undefined);
  assert.equal(pipeline.state, { kind: 'idle' });
  pipeline.sendEvents([other], self, 20);
  assert.is(pipeline.ownSentAt, 10, 'a push of others’ events leaves the own record as it was');
});

test('a snapshot goes chunk by chunk: each accepted chunk but the last asks for the next', () => {
  const pipeline = new PushPipeline(0);
  pipeline.sendSnapshot(source);
  assert.equal(pipeline.state, { kind: 'snapshot-in-flight', source, index: 0 });
  assert.is(pipeline.accepted(false), 1);
  assert.equal(pipeline.state, { kind: 'snapshot-in-flight', source, index: 1 });
  assert.is(pipeline.accepted(false), 2);
  assert.is(pipeline.accepted(true), undefined);
  assert.not.ok(pipeline.busy);
});

test('after a whole snapshot the next push goes at once if the peer took it, and one interval later if it did not', () => {
  const taken = new PushPipeline(0);
  taken.sendSnapshot(source);
  taken.accepted(true);
  taken.scheduleNext(source.clock, 50, backOffMs);
  assert.is(taken.nextPushAt, 50);
  const refused = new PushPipeline(0);
  refused.sendSnapshot(source);
  refused.accepted(true);
  refused.scheduleNext(clock({ 0: 2 }), 50, backOffMs);
  assert.is(refused.nextPushAt, 50 + backOffMs);
  refused.scheduleNext(clock({}), 60, backOffMs);
  assert.is(refused.nextPushAt, 60, 'only the answer to that snapshot is weighed');
});

test('a failed push makes it idle, forgets what was sent, and backs off one interval', () => {
  const pipeline = new PushPipeline(0);
  pipeline.sendEvents(own, self, 10);
  pipeline.failed(30, backOffMs);
  assert.equal(pipeline.state, { kind: 'idle' });
  assert.is(pipeline.ownSentSeq, 0, 'what was in flight may be lost');
  assert.is(pipeline.nextPushAt, 30 + backOffMs);
  pipeline.sendSnapshot(source);
  pipeline.failed(40, backOffMs);
  pipeline.scheduleNext(clock({}), 50, backOffMs);
  assert.is(pipeline.nextPushAt, 50, 'a failed snapshot is not weighed as refused');
});

test('a refused push makes it idle but keeps what was sent; a restarted peer is owed everything again, at once', () => {
  const pipeline = new PushPipeline(0);
  pipeline.sendEvents(own, self, 10);
  pipeline.refused();
  assert.not.ok(pipeline.busy);
  assert.is(pipeline.ownSentSeq, 2);
  pipeline.nextPushAt = 900;
  pipeline.peerRestarted(100);
  assert.is(pipeline.ownSentSeq, 0);
  assert.is(pipeline.nextPushAt, 100);
});

test.run();
