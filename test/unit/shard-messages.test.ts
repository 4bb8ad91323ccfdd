import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Address } from '../../events/ids.ts';
import { initialShardMap } from '../../events/shard-map.ts';
import { parseGroupStatus, parseHandoffReply, parseHandoffRequest, parseReshardRunningQuery, parseReshardRunningReply, parseReshardStep, parseShardMapState, quiescedGroupsMax } from '../../events/shard-messages.ts';
import { rejects, testLimits } from './support.ts';

const status = { epoch: 2, shard: 1, clock: {}, joined: true };

test('parseGroupStatus() reads the members a node sees alive, and takes a status without them (an older node)', () => {
  assert.equal(parseGroupStatus({ ...status, live: ['127.0.0.2:8090', '127.0.0.3:8090'] }, testLimits), { ...status, live: ['127.0.0.2:8090', '127.0.0.3:8090'] });
  assert.equal(parseGroupStatus(status, testLimits), status);
  rejects(() => parseGroupStatus({ ...status, live: '127.0.0.2:8090' }, testLimits), /live must be an array/);
  rejects(() => parseGroupStatus({ ...status, live: Array.from({ length: testLimits.viewMembersMax + 1 }, (_, i) => `127.0.0.${i + 2}:8090`) }, testLimits), /live must be an array of at most/);
  rejects(() => parseGroupStatus({ ...status, live: ['not an address'] }, testLimits), /live member/);
});

const map = initialShardMap(['127.0.0.2:8090', '127.0.0.3:8090', '127.0.0.4:8090', '127.0.0.5:8090'] as Address[], 2);
const life = '127.0.0.2:8090/a1-1.1';
const quiesced = { '1.1': { epoch: 2, clock: { [life]: 4 } }, '2.1': { epoch: 2, clock: {} } };

test('a reshard step and a map state carry the clocks groups were quiesced at, and are taken without them (an older node)', () => {
  const step = { step: 'commit', next: map, reshard: '127.0.0.2:8090/r1' };
  assert.equal(parseReshardStep({ ...step, quiesced }, testLimits).quiesced, quiesced);
  assert.is(parseReshardStep(step, testLimits).quiesced, undefined);
  const state = { map, view: ['127.0.0.2:8090'] };
  assert.equal(parseShardMapState({ ...state, quiesced }, testLimits).quiesced, quiesced);
  assert.is(parseShardMapState(state, testLimits).quiesced, undefined);
  rejects(() => parseReshardStep({ ...step, quiesced: [] }, testLimits), /quiesced must be an object/);
  rejects(() => parseReshardStep({ ...step, quiesced: { shard1: {} } }, testLimits), /group must be a group tag/);
  rejects(() => parseReshardStep({ ...step, quiesced: { '1.1': { epoch: 2, clock: { [life]: -1 } } } }, testLimits), /quiesced clock of 1.1/);
  rejects(() => parseReshardStep({ ...step, quiesced: { '1.1': { clock: {} } } }, testLimits), /quiesced epoch of 1.1/);
  rejects(() => parseReshardStep({ ...step, quiesced: { '1.1': 3 } }, testLimits), /quiesced group 1.1 must be an object/);
  const tooMany = Object.fromEntries(Array.from({ length: quiescedGroupsMax + 1 }, (_, i) => [`${i + 1}.1`, { epoch: 2, clock: {} }]));
  rejects(() => parseShardMapState({ ...state, quiesced: tooMany }, testLimits), /at most 64 groups/);
});

test('parseHandoffRequest() reads a group tag and its events; parseHandoffReply() the counts', () => {
  const event = { type: 'put', origin: life, seq: 5, key: 'k', value: 1, clock: { [life]: 5 } };
  assert.equal(parseHandoffRequest({ group: '1.1', events: [event] }, testLimits), { group: '1.1', events: [event] });
  const strandedWith = { epoch: 3, clock: { [life]: 4 }, retired: { '127.0.0.3:8090': { incarnation: 'a0-1.1', seq: 9 } } };
  assert.equal(parseHandoffRequest({ group: '1.1', events: [event], quiesced: strandedWith }, testLimits), { group: '1.1', events: [event], quiesced: strandedWith });
  rejects(() => parseHandoffRequest({ group: '1.1', events: [], quiesced: { epoch: 3 } }, testLimits), /quiesced clock of 1.1 must be an object/);
  rejects(() => parseHandoffRequest({ group: '1.1', events: {} }, testLimits), /events must be an array/);
  rejects(() => parseHandoffRequest({ group: '__proto__', events: [] }, testLimits), /group must be a group tag/);
  rejects(() => parseHandoffRequest({ group: '1.1', events: Array.from({ length: testLimits.snapshotChunkKeysMax + 1 }, () => event) }, testLimits), /at most/);
  assert.equal(parseHandoffReply({ written: 2, skipped: 0 }), { written: 2, skipped: 0 });
  rejects(() => parseHandoffReply({ written: 2 }), /skipped must be an integer/);
});

test('parseReshardRunningQuery() takes one reshard id of 1 to 200 characters; parseReshardRunningReply() a boolean `running`', () => {
  assert.is(parseReshardRunningQuery({ reshard: '127.0.0.1:8090/4b6f' }), '127.0.0.1:8090/4b6f');
  rejects(() => parseReshardRunningQuery({}), /reshard must be a string/);
  rejects(() => parseReshardRunningQuery({ reshard: '' }), /reshard must be a string/);
  rejects(() => parseReshardRunningQuery({ reshard: ['a', 'b'] }), /reshard must be a string/);
  rejects(() => parseReshardRunningQuery({ reshard: 'x'.repeat(201) }), /reshard must be a string of 1 to 200/);
  assert.equal(parseReshardRunningReply({ running: true }), { running: true });
  assert.equal(parseReshardRunningReply({ running: false }), { running: false });
  rejects(() => parseReshardRunningReply({ running: 'no' }), /running must be a boolean/);
  rejects(() => parseReshardRunningReply({}), /running must be a boolean/);
  rejects(() => parseReshardRunningReply(null), /must be an object/);
});

test.run();
