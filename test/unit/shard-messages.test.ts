import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseGroupStatus, parseReshardRunningQuery, parseReshardRunningReply } from '../../events/shard-messages.ts';
import { rejects, testLimits } from './support.ts';

const status = { epoch: 2, shard: 1, clock: {}, joined: true };

test('parseGroupStatus() reads the members a node sees alive, and takes a status without them (an older node)', () => {
  assert.equal(parseGroupStatus({ ...status, live: ['127.0.0.2:8090', '127.0.0.3:8090'] }, testLimits), { ...status, live: ['127.0.0.2:8090', '127.0.0.3:8090'] });
  assert.equal(parseGroupStatus(status, testLimits), status);
  rejects(() => parseGroupStatus({ ...status, live: '127.0.0.2:8090' }, testLimits), /live must be an array/);
  rejects(() => parseGroupStatus({ ...status, live: Array.from({ length: testLimits.viewMembersMax + 1 }, (_, i) => `127.0.0.${i + 2}:8090`) }, testLimits), /live must be an array of at most/);
  rejects(() => parseGroupStatus({ ...status, live: ['not an address'] }, testLimits), /live member/);
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
