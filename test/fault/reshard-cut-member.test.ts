import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { portBase, stopAll, type ReplicaProcess } from '../support/cluster.ts';
import { exitSoon, hostsOf, startClusterPatiently, watchdog } from '../support/fault-kit.ts';
import { get, put, request, waitFor } from '../support/http.ts';
import { assertPrivateNamespace, healAll, isolate } from '../support/netns.ts';

// A reshard run by a node that cannot reach one member of the other shard (nft rules between the
// two only: the member's own shard still reaches it, and so do clients). That member misses the
// freeze and goes on taking writes, which its shard replicates; if the reshard went on, a write
// that reached the shard after the export would be dropped with the keys that moved. The reshard
// must fail with nothing changed while the member is seen alive; once the cut heals it succeeds,
// and every write the member acknowledged meanwhile reads back.

assertPrivateNamespace();
watchdog(150_000, 'reshard-cut-member');

const { hosts, addresses, uids } = hostsOf(6, portBase('reshard-cut-member'));
let replicas: ReplicaProcess[] = [];

test.after(async () => {
  healAll();
  await stopAll(replicas);
  exitSoon();
});

const membersOf = async (shard: number): Promise<string[]> => (await request('GET', addresses[0]!, `/shard/members/${shard}`)).body['shard-members'];
const epochAt = async (address: string): Promise<number> => (await request('GET', address, '/debug/state')).body.sharding.epoch;

test('a reshard fails, changing nothing, while a member it cannot reach is alive; healed, it succeeds and the writes that member took all read back', async () => {
  replicas = await startClusterPatiently(addresses, uids, { SHARD_COUNT: '2' });
  const [coordinator, cut] = [(await membersOf(1))[0]!, (await membersOf(2))[0]!];
  const epochBefore = await epochAt(coordinator);
  isolate(hosts[addresses.indexOf(cut)]!, [hosts[addresses.indexOf(coordinator)]!]);

  // Writes at the cut member, all through the reshard's attempt: it never took the freeze.
  const acked = new Map<string, number>();
  let writing = true;
  const writer = (async () => {
    let metadata: unknown = null;
    for (let i = 0; writing && i < 2000; i++) {
      const answer = await put(cut, `cut-${i}`, i, metadata);
      if (answer.status === 200 || answer.status === 201) {
        acked.set(`cut-${i}`, i);
        metadata = answer.body['causal-metadata'];
      }
    }
  })();
  const refused = await request('PUT', coordinator, '/shard/reshard', { 'shard-count': 3 }, { timeoutMs: 60_000 });
  writing = false;
  await writer;
  assert.is(refused.status, 503, `the reshard answered ${refused.status} ${JSON.stringify(refused.body)}`);
  assert.match(JSON.stringify(refused.body), 'did not take the freeze');
  assert.ok(acked.size > 0, 'the cut member took writes during the attempt');
  for (const address of addresses) assert.is(await epochAt(address), epochBefore, `${address} changed its map`);
  assert.is((await put(coordinator, 'after-attempt', 1)).status, 201, 'writes go on at the coordinator: it thawed');

  healAll();
  // Right after the heal the cut member's link may still be held down for a moment (503). And the
  // first attempt's freeze, sent to the cut member over a connection the cut silenced, may still
  // reach it once the cut heals (the kernel retransmits it): the member is then frozen for a reshard
  // that gave up, and refuses the next one's freeze (409) until it asks the coordinator, about a
  // second later, and is told that reshard no longer runs (it then thaws). Both are tried again, bounded.
  const done = await waitFor(
    'a reshard after the heal that answers neither 503 nor 409',
    async () => {
      const answer = await request('PUT', coordinator, '/shard/reshard', { 'shard-count': 3 }, { timeoutMs: 60_000 });
      return answer.status !== 503 && answer.status !== 409 && answer;
    },
    15_000,
    1000,
  );
  assert.is(done.status, 200, `the reshard after the heal answered ${done.status} ${JSON.stringify(done.body)}`);
  const lost: string[] = [];
  for (const [key, value] of acked) {
    const answer = await get(addresses[(value % addresses.length)]!, key);
    if (answer.status !== 200 || answer.body.value !== value) lost.push(`${key}: ${answer.status} ${JSON.stringify(answer.body.value)}`);
  }
  assert.equal(lost, [], `${lost.length} of ${acked.size} writes acknowledged by the cut member are gone`);
});

test.run();
