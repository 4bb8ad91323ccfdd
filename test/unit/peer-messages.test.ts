import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  parseHealthReply,
  parsePushReply,
  parsePushRequest,
  parsePushStreamAnswer,
  parseSnapshotChunk,
  parseViewChangeOrigin,
} from '../../events/peer-messages.ts';
import { addresses, id, rejects, testLimits } from './support.ts';

const from = addresses[1]!;
const event = { type: 'put', origin: id(1), seq: 1, key: 'k', value: 'v', clock: { [id(1)]: 1 } };

test('parsePushRequest() accepts a batch with the sender identity', () => {
  const push = parsePushRequest({ from, incarnation: 'b1', events: [event] }, testLimits);
  assert.is(push.from, from);
  assert.is(push.incarnation, 'b1');
  assert.is(push.events.length, 1);
  assert.ok(Object.isFrozen(push.events[0]));
  assert.equal(parsePushRequest({ from, incarnation: 'b1', events: [] }, testLimits).events, []);
});

test('parsePushRequest() refuses bad identities, bad events and oversized batches', () => {
  rejects(() => parsePushRequest([], testLimits), /^push must be a JSON object$/);
  rejects(() => parsePushRequest({ incarnation: 'b1', events: [] }, testLimits), /^from must be a string/);
  rejects(() => parsePushRequest({ from: 'nope', incarnation: 'b1', events: [] }, testLimits), /^from must be of the form IP:PORT/);
  rejects(() => parsePushRequest({ from, incarnation: 'B!', events: [] }, testLimits), /incarnation/);
  rejects(() => parsePushRequest({ from, incarnation: 'b1', events: {} }, testLimits), /events must be an array/);
  rejects(() => parsePushRequest({ from, incarnation: 'b1', events: [{ ...event, seq: 2 }] }, testLimits), /count the event itself/);
  const many = Array.from({ length: testLimits.pushBatchEventsMax + 1 }, () => event);
  rejects(() => parsePushRequest({ from, incarnation: 'b1', events: many }, testLimits), /too many events in one batch \(51 > 50\)/);
});

test('parsePushReply() reads accepted and held-down replies', () => {
  const accepted = parsePushReply({ type: 'accepted', from, incarnation: 'b1', clock: { [id(0)]: 2 } }, testLimits);
  assert.equal(accepted, { from, incarnation: 'b1', type: 'accepted', clock: { [id(0)]: 2 } });
  const held = parsePushReply({ type: 'held-down', from, incarnation: 'b1', clock: {}, remainingMs: 1200 }, testLimits);
  assert.equal(held, { from, incarnation: 'b1', type: 'held-down', clock: {}, remainingMs: 1200 });
  assert.is(parsePushReply({ type: 'held-down', from, incarnation: 'b1', clock: {}, remainingMs: 0 }, testLimits).type, 'held-down');
});

test('parsePushReply() refuses unknown types, a missing clock and a bad remainingMs', () => {
  rejects(() => parsePushReply({ type: 'ok', from, incarnation: 'b1', clock: {} }, testLimits), /push reply type must be "accepted" or "held-down"/);
  rejects(() => parsePushReply({ type: 'accepted', from, incarnation: 'b1' }, testLimits), /clock must be an object/);
  for (const remainingMs of [undefined, -1, '5', Number.NaN]) {
    rejects(() => parsePushReply({ type: 'held-down', from, incarnation: 'b1', clock: {}, remainingMs }, testLimits), /remainingMs must be a number >= 0/);
  }
});

test('parsePushStreamAnswer() reads a reply or a refusal with its 4xx/5xx status, nothing else', () => {
  const reply = { type: 'accepted', from, incarnation: 'b1', clock: { [id(0)]: 2 } };
  assert.equal(parsePushStreamAnswer({ reply }, testLimits), { reply: { ...reply, type: 'accepted' } });
  assert.equal(parsePushStreamAnswer({ error: 'bad push', status: 400 }, testLimits), { error: 'bad push', status: 400 });
  assert.is((parsePushStreamAnswer({ error: 'x'.repeat(2000), status: 413 }, testLimits) as { error: string }).error.length, 500);
  rejects(() => parsePushStreamAnswer({ reply: { ...reply, type: 'ok' } }, testLimits), /push reply type/);
  for (const bad of [{}, { error: 'e' }, { error: 'e', status: 200 }, { error: 'e', status: 600 }, { error: 3, status: 400 }, { error: 'e', status: 400.5 }]) {
    rejects(() => parsePushStreamAnswer(bad, testLimits), /must hold a reply, or an error with a 4xx\/5xx status/);
  }
  rejects(() => parsePushStreamAnswer([], testLimits), /^push stream answer must be a JSON object$/);
});

test('parseHealthReply() needs status ok, an identity and a clock', () => {
  assert.equal(parseHealthReply({ status: 'ok', from, incarnation: 'b1', clock: {} }, testLimits), { status: 'ok', from, incarnation: 'b1', clock: {} });
  rejects(() => parseHealthReply({ status: 'down', from, incarnation: 'b1', clock: {} }, testLimits), /health status must be "ok"/);
  rejects(() => parseHealthReply({ status: 'ok', from, incarnation: 'b1', clock: 3 }, testLimits), /clock must be an object/);
  rejects(() => parseHealthReply('ok', testLimits), /^health reply must be a JSON object$/);
});

test('health and push replies carry the writes held undelivered: per origin the highest and the lowest seq', () => {
  const held = { undelivered: { [id(1)]: 7 }, undeliveredFrom: { [id(1)]: 5 } };
  assert.equal(parseHealthReply({ status: 'ok', from, incarnation: 'b1', clock: {}, ...held }, testLimits), { status: 'ok', from, incarnation: 'b1', clock: {}, ...held });
  assert.equal(parsePushReply({ type: 'accepted', from, incarnation: 'b1', clock: {}, ...held }, testLimits), { type: 'accepted', from, incarnation: 'b1', clock: {}, ...held });
  rejects(() => parseHealthReply({ status: 'ok', from, incarnation: 'b1', clock: {}, undeliveredFrom: { [id(1)]: 0 } }, testLimits), /undeliveredFrom entry .* must be a positive integer/);
  rejects(() => parsePushReply({ type: 'accepted', from, incarnation: 'b1', clock: {}, undeliveredFrom: [] }, testLimits), /undeliveredFrom must be an object/);
});

function rawChunk(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { from, incarnation: 'b1', snapshotId: 'b1-1', index: 0, last: true, clock: { [id(1)]: 1 }, view: [from], entries: [event], ...overrides };
}

test('parseSnapshotChunk() accepts a chunk with entries and view', () => {
  const chunk = parseSnapshotChunk(rawChunk(), testLimits);
  assert.is(chunk.snapshotId, 'b1-1');
  assert.is(chunk.index, 0);
  assert.is(chunk.last, true);
  assert.equal(chunk.view, [from]);
  assert.is(chunk.entries.length, 1);
  assert.is(chunk.maxPlace, undefined, 'absent from older senders');
  assert.is(parseSnapshotChunk(rawChunk({ maxPlace: 42 }), testLimits).maxPlace, 42);
});

test('parseSnapshotChunk() refuses malformed chunks', () => {
  for (const maxPlace of [-1, 0.5, '3', Number.MAX_SAFE_INTEGER + 2]) rejects(() => parseSnapshotChunk(rawChunk({ maxPlace }), testLimits), /maxPlace must be an integer >= 0/);
  rejects(() => parseSnapshotChunk(rawChunk({ snapshotId: '' }), testLimits), /snapshotId must be a short string/);
  rejects(() => parseSnapshotChunk(rawChunk({ snapshotId: 'x'.repeat(65) }), testLimits), /snapshotId must be a short string/);
  rejects(() => parseSnapshotChunk(rawChunk({ index: -1 }), testLimits), /index must be an integer >= 0/);
  rejects(() => parseSnapshotChunk(rawChunk({ index: 0.5 }), testLimits), /index must be an integer >= 0/);
  rejects(() => parseSnapshotChunk(rawChunk({ last: 'yes' }), testLimits), /last must be a boolean/);
  rejects(() => parseSnapshotChunk(rawChunk({ view: 'a' }), testLimits), /view must be a short array/);
  rejects(() => parseSnapshotChunk(rawChunk({ view: ['bad'] }), testLimits), /view member must be of the form IP:PORT/);
  const tooMany = Array.from({ length: testLimits.snapshotChunkKeysMax + 1 }, () => event);
  rejects(() => parseSnapshotChunk(rawChunk({ entries: tooMany }), testLimits), /entries must be an array of at most 3/);
  rejects(() => parseSnapshotChunk(rawChunk({ entries: [{ ...event, type: 'x' }] }), testLimits), /event type/);
});

test('parseViewChangeOrigin() is undefined for a client and reads a peer identity with an optional clock', () => {
  assert.is(parseViewChangeOrigin(undefined, testLimits), undefined);
  assert.equal(parseViewChangeOrigin({ from, incarnation: 'b1' }, testLimits), { from, incarnation: 'b1' });
  assert.equal(parseViewChangeOrigin({ from, incarnation: 'b1', clock: { [id(0)]: 1 } }, testLimits), {
    from,
    incarnation: 'b1',
    clock: { [id(0)]: 1 },
  });
  rejects(() => parseViewChangeOrigin(null, testLimits), /^kvs-peer must be a JSON object$/);
  rejects(() => parseViewChangeOrigin({ from, incarnation: 'b1', clock: [] }, testLimits), /clock must be an object/);
});

test.run();
