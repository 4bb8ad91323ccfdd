import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { KvEvent } from '../../events/kv-event.ts';
import type { SnapshotChunk } from '../../events/peer-messages.ts';
import type { Outcome } from '../../events/peer-rpc.ts';
import { Joining } from '../../src/core/joining.ts';
import { addresses, clock, put } from './support.ts';

const [B, C] = [addresses[1]!, addresses[2]!];
const deadline = 3000;

function chunk(snapshotId: string, index: number, last: boolean, entries: readonly KvEvent[], from = B): Outcome<SnapshotChunk> {
  return { ok: true, reply: { from, incarnation: 'a', snapshotId, index, last, clock: clock({ 1: 3 }), view: [B, C], entries } };
}

const failed = (reason: string, status?: number): Outcome<SnapshotChunk> => (status === undefined ? { ok: false, reason } : { ok: false, reason, status });
const [e1, e2, e3] = [put(1, 1, 'a', 1), put(1, 2, 'b', 2, { 1: 1 }), put(1, 3, 'c', 3, { 1: 2 })];

test('with no one to ask, a replica has joined at once', () => {
  const joining = new Joining([], deadline);
  assert.ok(joining.joined);
  assert.equal(joining.state, { kind: 'joined', how: 'alone' });
  assert.is(joining.takePull(0), undefined);
});

test('the first pull asks the first candidate for a new cut, bounded by the deadline, one at a time', () => {
  const joining = new Joining([B, C], deadline);
  assert.equal(joining.takePull(1000), { to: B, request: { index: 0 }, timeoutMs: 2000 });
  assert.is(joining.takePull(1001), undefined, 'one pull in flight');
  assert.equal(joining.state, { kind: 'pulling', candidate: 0, snapshotId: undefined, index: 0, inFlight: true });
});

test('chunks accumulate, each asked for by the cut id and the next index, and the last one hands over the whole snapshot', () => {
  const joining = new Joining([B, C], deadline);
  joining.takePull(0);
  assert.is(joining.onReply(chunk('b-1', 0, false, [e1])), undefined);
  assert.equal(joining.takePull(1)?.request, { snapshotId: 'b-1', index: 1 });
  assert.is(joining.onReply(chunk('b-1', 1, false, [e2])), undefined);
  assert.equal(joining.takePull(2)?.request, { snapshotId: 'b-1', index: 2 });
  const last = chunk('b-1', 2, true, [e3]);
  const pulled = joining.onReply(last);
  assert.ok(pulled);
  assert.equal(pulled.entries, [e1, e2, e3]);
  assert.is(pulled.last, last.ok ? last.reply : undefined, 'the last chunk carries the clock and view to install');
  assert.equal(joining.state, { kind: 'joined', how: 'snapshot' });
  assert.is(joining.takePull(3), undefined);
  assert.is(joining.onReply(chunk('b-1', 3, true, [])), undefined, 'nothing is taken once joined');
});

test('a 410 (the cut expired) restarts the cut with the same peer, dropping what was pulled', () => {
  const joining = new Joining([B, C], deadline);
  joining.takePull(0);
  joining.onReply(chunk('b-1', 0, false, [e1]));
  joining.takePull(1);
  joining.onReply(failed('HTTP 410', 410));
  assert.equal(joining.state, { kind: 'pulling', candidate: 0, snapshotId: undefined, index: 0, inFlight: false });
  assert.equal(joining.takePull(2), { to: B, request: { index: 0 }, timeoutMs: deadline - 2 });
  const pulled = joining.onReply(chunk('b-2', 0, true, [e2]));
  assert.equal(pulled?.entries, [e2], 'nothing of the expired cut');
});

test('any other failure moves on to the next candidate; when none is left the replica joins with what it has', () => {
  const joining = new Joining([B, C], deadline);
  joining.takePull(0);
  joining.onReply(chunk('b-1', 0, false, [e1]));
  joining.takePull(1);
  joining.onReply(failed('HTTP 503'));
  const next = joining.takePull(2);
  assert.is(next?.to, C);
  assert.equal(next?.request, { index: 0 });
  const pulled = joining.onReply(failed('request timed out'));
  assert.is(pulled, undefined);
  assert.equal(joining.state, { kind: 'joined', how: 'no-peer-answered' });
});

test('the deadline ends the join: no pull is taken at or after it', () => {
  const joining = new Joining([B, C], deadline);
  joining.takePull(0);
  joining.onReply(chunk('b-1', 0, false, [e1]));
  assert.is(joining.takePull(deadline), undefined);
  assert.equal(joining.state, { kind: 'joined', how: 'timed-out' });
});

test('a chunk of another cut, or out of order, restarts the cut with the same peer', () => {
  const joining = new Joining([B, C], deadline);
  joining.takePull(0);
  joining.onReply(chunk('b-1', 0, false, [e1]));
  joining.takePull(1);
  assert.is(joining.onReply(chunk('b-9', 1, true, [e3])), undefined, 'another snapshot id');
  assert.equal(joining.state, { kind: 'pulling', candidate: 0, snapshotId: undefined, index: 0, inFlight: false });
  joining.takePull(2);
  assert.is(joining.onReply(chunk('b-2', 1, true, [e3])), undefined, 'a first chunk that is not chunk 0');
  assert.equal(joining.takePull(3)?.to, B);
  assert.equal(joining.onReply(chunk('b-3', 0, true, [e2]))?.entries, [e2]);
});

test.run();
