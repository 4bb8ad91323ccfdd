// The receiving side of a hand-off (POST /internal/shard/handoff, ShardedNode.takeHandoff): writes
// a node took alone while a reshard ran without it, sent to the keys' shard. Each is written once,
// unless the reshard took it already (the group's quiesced clock covers it): not again when the
// answer was lost and the page is sent anew, to the same member or another, nor over a client's
// later write. The events here stand for such writes, made by hand.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { shardOfKey, type ShardMap } from '../../events/shard-map.ts';
import { stopAll, type ReplicaProcess } from '../support/cluster.ts';
import { get, put, request, waitFor } from '../support/http.ts';
import { heldByShard, sixShardedNodes } from '../support/reshard-setup.ts';

const replicas: ReplicaProcess[] = [];
test.after(async () => {
  await stopAll(replicas);
});

/** A life of shard 2's group (2.1) on a node that is gone, and one of shard 1's (1.1). */
const writer2 = '127.0.81.250:1/zz2-2.1';
const writer1 = '127.0.81.250:1/zz1-1.1';

const keyOf = (map: ShardMap, shard: number, prefix: string): string => {
  for (let i = 0; i < 10_000; i++) if (shardOfKey(map, `${prefix}${i}`) === shard) return `${prefix}${i}`;
  throw new Error(`no key ${prefix}<i> in shard ${shard}`);
};

const putEvent = (origin: string, seq: number, key: string, value: unknown, clock: Record<string, number> = {}) => ({ type: 'put', origin, seq, key, value, clock: { ...clock, [origin]: seq } });

const handoff = (address: string, group: string, events: unknown[]) => request('POST', address, '/internal/shard/handoff', { group, events });

test('handed-off writes are written once, never over what the reshard took or a later write', async () => {
  const { before: map } = await sixShardedNodes(replicas, 81, 2, 3);
  const [first, second] = map.shards[0]!.members;
  const key = keyOf(map, 1, 'handed-');
  const taken = keyOf(map, 1, 'taken-');
  const handed = putEvent(writer2, 3, key, 'handed');

  // Not knowing what any reshard took from group 2.1, it cannot tell what is new: 503, try again later.
  const unknown = await handoff(first!, '2.1', [handed]);
  assert.is(unknown.status, 503, JSON.stringify(unknown.body));

  // What a reshard's commit (or the map's gossip) brings: the clocks the groups were quiesced at.
  const state = (await request('GET', first!, '/internal/shard/map')).body;
  for (const member of [first!, second!]) {
    const taught = await request('PUT', member, '/internal/shard/map', { ...state, quiesced: { '2.1': { epoch: 2, clock: { [writer2]: 2 } }, '1.1': { epoch: 2, clock: { [writer1]: 1 } } } });
    assert.is(taught.status, 200, JSON.stringify(taught.body));
  }

  const written = await handoff(first!, '2.1', [handed, putEvent(writer2, 2, taken, 'taken by the reshard')]);
  assert.is(written.status, 200, JSON.stringify(written.body));
  assert.equal(written.body, { written: 1, skipped: 1 });
  const read = await get(first!, key);
  assert.is(read.body.value, 'handed');
  assert.is((await get(first!, taken)).status, 404, 'a write the quiesced clock covers is not written again');
  await heldByShard(map, key, read.body['causal-metadata'], 'handed');

  // Sent again (its answer was lost): the same member remembers it, the other finds the key depends on it.
  for (const member of [first!, second!]) {
    const again = await handoff(member, '2.1', [handed]);
    assert.equal(again.body, { written: 0, skipped: 1 }, `${member}: ${JSON.stringify(again.body)}`);
  }
  // A client's later write wins over a late copy.
  const later = await put(second!, key, 'later', read.body['causal-metadata']);
  assert.is(later.status, 200, JSON.stringify(later.body));
  assert.equal((await handoff(second!, '2.1', [handed])).body, { written: 0, skipped: 1 });
  await heldByShard(map, key, later.body['causal-metadata'], 'later');

  // A write of this shard's own group by a life that left it: its earlier writes that never
  // reached the group are not waited for (the write answers at once).
  const own = keyOf(map, 1, 'own-');
  const ownWritten = await handoff(first!, '1.1', [putEvent(writer1, 5, own, 'own')]);
  assert.equal(ownWritten.body, { written: 1, skipped: 0 }, JSON.stringify(ownWritten.body));
  assert.is((await get(first!, own)).body.value, 'own');

  // A later reshard quiesced group 2.1 again (say after the cut healed, and the group had delivered
  // writes whose keys it no longer keeps): judged by that clock, they would count as taken. The
  // sender's own clock, the one it cut them down with, decides.
  const later2 = await request('PUT', first!, '/internal/shard/map', { ...state, quiesced: { '2.1': { epoch: 3, clock: { [writer2]: 10 } } } });
  assert.is(later2.status, 200, JSON.stringify(later2.body));
  const late = keyOf(map, 1, 'late-');
  assert.equal((await handoff(first!, '2.1', [putEvent(writer2, 7, late, 'late')])).body, { written: 0, skipped: 1 }, 'judged by the latest clock');
  const withClock = await request('POST', first!, '/internal/shard/handoff', { group: '2.1', events: [putEvent(writer2, 7, late, 'late')], quiesced: { epoch: 2, clock: { [writer2]: 2 } } });
  assert.equal(withClock.body, { written: 1, skipped: 0 }, `judged by the clock it was stranded with: ${JSON.stringify(withClock.body)}`);
  assert.is((await get(first!, late)).body.value, 'late');

  // Bad input: 4xx, and nothing changes.
  const elsewhere = await handoff(first!, '2.1', [putEvent(writer2, 9, keyOf(map, 2, 'other-'), 'x')]);
  assert.is(elsewhere.status, 409, `a key of another shard: ${JSON.stringify(elsewhere.body)}`);
  assert.is((await handoff(first!, 'two', [handed])).status, 400);
  const mislabelled = await handoff(first!, '1.1', [putEvent(writer2, 10, key, 'x')]);
  assert.is(mislabelled.status, 400, `an event of another group: ${JSON.stringify(mislabelled.body)}`);
  const unchanged = await waitFor('the key to read back at both members', async () => {
    const answers = await Promise.all([first!, second!].map((member) => get(member, key, later.body['causal-metadata'])));
    return answers.every((answer) => answer.status === 200) && answers;
  }, 10_000);
  for (const answer of unchanged) assert.is(answer.body.value, 'later');
});

test.run();
