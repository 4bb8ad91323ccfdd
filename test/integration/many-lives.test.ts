// A replica killed with SIGKILL and started again 60 times (no DATA_DIR: each start is a new life
// with a new clock entry), a write and a read in every life, with CLOCK_ENTRIES_MAX=16. Without
// retiring the entries of ended lives, the 16th life made every replica refuse metadata it had
// handed out itself (too many entries). Here every request works; the metadata handed out and
// each replica's clock stay at most 2 entries per replica in the view; and metadata from before
// the first restart is still accepted everywhere.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startReplica, stopAll, type ReplicaProcess } from '../support/cluster.ts';
import { get, put, request, waitFor } from '../support/http.ts';
import { addressesFor, clusterFormed } from './common.ts';

const lives = 60;
const addresses = addressesFor('many-lives', 31, 3);
const [A, B, C] = addresses as [string, string, string];
// Fast retirement, so that 60 lives fit in a test: the ended life is retired a few hundred ms after
// its successor announced itself (defaults: 10 s, compaction every second).
const env = { CLOCK_ENTRIES_MAX: '16', RETIRE_AFTER_MS: '100', COMPACTION_INTERVAL_MS: '100' };
const entriesMax = 2 * addresses.length;
const started: ReplicaProcess[] = [];

test.after(() => stopAll(started));

async function clockOf(address: string): Promise<Record<string, number>> {
  return (await request('GET', address, '/debug/state')).body.clock as Record<string, number>;
}

test(`${lives} lives of one replica: every request works, clocks and metadata stay small, the first metadata stays valid`, async () => {
  for (const address of addresses) started.push(await startReplica({ address, view: addresses, env }));
  await clusterFormed(addresses);
  const first = await put(A, 'first', 0);
  assert.is(first.status, 201);
  const firstMetadata = first.body['causal-metadata'];
  let metadata = firstMetadata;
  for (let life = 1; life <= lives; life++) {
    const victim = started.findIndex((replica) => replica.address === C && replica.running);
    await started[victim]!.kill('SIGKILL');
    started.push(await startReplica({ address: C, view: addresses, env }));
    const written = await waitFor(
      `life ${life}: a write at the restarted replica`,
      async () => {
        const answer = await put(C, `life-${life}`, life, metadata);
        return answer.status === 200 || answer.status === 201 ? answer : undefined;
      },
      10_000,
    );
    metadata = written.body['causal-metadata'];
    assert.ok(Object.keys(metadata).length <= entriesMax, `life ${life}: metadata handed out has ${Object.keys(metadata).length} entries: ${JSON.stringify(metadata)}`);
    const read = await get(A, `life-${life}`, metadata);
    assert.is(read.status, 200, `life ${life}: read at ${A}: ${JSON.stringify(read.body)}`);
    assert.is(read.body.value, life);
    metadata = read.body['causal-metadata'];
    // The ended lives are retired within a bound: every clock keeps one entry for C (its live life),
    // so clocks and what is handed out stay within 2 entries per replica whatever the pace of restarts.
    await waitFor(
      `life ${life}: the earlier lives of ${C} retired everywhere`,
      async () => {
        for (const address of addresses) {
          const clock = await clockOf(address);
          assert.ok(Object.keys(clock).length <= entriesMax, `life ${life}: ${address}'s clock has ${Object.keys(clock).length} entries: ${JSON.stringify(clock)}`);
          if (Object.keys(clock).filter((id) => id.startsWith(`${C}/`)).length > 1) return false;
        }
        return true;
      },
      20_000,
    );
  }
  for (const address of [A, B, C]) {
    const old = await get(address, 'first', firstMetadata);
    assert.is(old.status, 200, `metadata from before the first restart at ${address}: ${JSON.stringify(old.body)}`);
    assert.is(old.body.value, 0);
    const now = await get(address, `life-${lives}`, metadata);
    assert.is(now.status, 200, `the last metadata at ${address}: ${JSON.stringify(now.body)}`);
    assert.ok(Object.keys(now.body['causal-metadata']).length <= entriesMax);
  }
});

test.run();
