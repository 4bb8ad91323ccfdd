import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { portBase, stopAll, type ReplicaProcess } from '../support/cluster.ts';
import {
  checkClientReads,
  checkConvergedValues,
  Client,
  converged,
  History,
  hostsOf,
  Load,
  measure,
  median,
  Rng,
  seedFrom,
  summarize,
  tailLogs,
  timeUntil,
  viewsAre,
  watchdog,
  startClusterPatiently,
  startPatiently,
  exitSoon,
  until,
} from '../support/fault-kit.ts';
import { sleep } from '../support/http.ts';
import { assertPrivateNamespace, healAll, isolate } from '../support/netns.ts';

// Cut one replica off from the other two, both ways (nft rules on the replicas' uids; the test's
// own client traffic is not cut). Clients stay on their side and write on both sides, to their own
// keys and concurrently to shared keys. Heal: views and data must converge, within the link
// hold-down plus a few seconds, and every client's history must have stayed causal.

assertPrivateNamespace();
watchdog(240_000, 'partition-heal');

const holdDownMs = 5000; // LINK_HOLD_DOWN_MS default
const healBoundMs = holdDownMs + 4000;
const { hosts, addresses, uids } = hostsOf(3, portBase('partition-heal'));
let replicas: ReplicaProcess[] = [];

test.after(async () => {
  healAll();
  await stopAll(replicas);
  exitSoon();
});

test('a partitioned replica and the majority both take writes, and all converge after the heal', async () => {
  replicas = await startClusterPatiently(addresses, uids);
  const rng = new Rng(seedFrom('partition-heal'));
  const history = new History();
  const shared = ['s0', 's1', 's2'];
  const healTimes: number[] = [];

  for (const [cycle, cut] of [2, 0].entries()) {
    const minority = [addresses[cut]!];
    const majority = addresses.filter((_, i) => i !== cut);
    // Two clients on the majority side, one on the minority side; each stays on its side.
    const sides = [majority, majority, minority];
    const clients = sides.map((_, i) => new Client(`p${cycle}c${i}`, history));
    const ownKeys = (client: Client) => [0, 1, 2].map((k) => `${client.name}-k${k}`);
    const sideOf = (index: number) => sides[index]!;
    const load = new Load(
      {
        clients,
        rng,
        target: (_, index) => rng.pick(sideOf(index)),
        keys: (client) => (rng.next() < 0.4 ? shared : ownKeys(client)),
        // Reads: own keys, shared keys, and the keys of the clients on the same side.
        readKeys: (client, index) => [...shared, ...clients.filter((_, j) => sideOf(j) === sideOf(index)).flatMap(ownKeys)],
        readShare: 0.4,
        pauseMs: 10,
      },
      30_000,
    );

    await sleep(1000);
    const cutAt = Date.now();
    isolate(hosts[cut]!, hosts.filter((_, i) => i !== cut));
    console.log(`# cycle ${cycle}: cut ${minority[0]} off from ${majority.join(', ')}`);
    try {
      await timeUntil('the majority to drop the cut replica', viewsAre(majority, majority), 10_000, 25);
      await timeUntil('the cut replica to drop the majority', viewsAre(minority, minority), 10_000, 25);
    } catch (error) {
      await load.stop();
      throw new Error(`${String(error)}\n${tailLogs(replicas)}`);
    }
    measure(`partition seen in every view (cycle ${cycle})`, Date.now() - cutAt);
    // Both sides write while fully apart.
    const splitAt = Date.now();
    const minorityAckedSince = (since: number) => clients[2]!.ops.filter((op) => op.kind === 'put' && op.ok && op.startedAt >= since).length;
    await sleep(1500);
    await until(() => minorityAckedSince(splitAt) >= 10, 5000);
    await load.stop();
    console.log(`# cycle ${cycle} load: ${summarize(clients)}`);
    const failed = clients.flatMap((c) => c.failures());
    assert.equal(failed.map((op) => `${op.kind} ${op.key} at ${op.address}: ${op.outcome}`), [], 'clients that stay on their side of the partition saw failures');
    const minorityWrites = minorityAckedSince(cutAt);
    assert.ok(minorityWrites >= 5, `too few writes on the minority side (${minorityWrites})`);

    const healAt = Date.now();
    healAll();
    let viewsMs: number;
    let healMs: number;
    try {
      viewsMs = await timeUntil('views to contain every replica again', viewsAre(addresses, addresses), healBoundMs + 5000, 25);
      healMs = await timeUntil('all replicas to converge after the heal', converged(addresses), healBoundMs + 5000, 25);
      healMs = Date.now() - healAt;
    } catch (error) {
      throw new Error(`${String(error)}\n${tailLogs(replicas)}`);
    }
    measure(`views whole again after heal (cycle ${cycle})`, viewsMs);
    measure(`converged after heal (cycle ${cycle})`, healMs);
    healTimes.push(healMs);

    const values = await checkConvergedValues(addresses, history);
    assert.equal(values, [], `replicas disagree or lost acknowledged writes after the heal:\n${values.slice(0, 20).join('\n')}`);
    // Every client reads every key of the cycle at every replica, across the healed cut.
    const allKeys = [...shared, ...clients.flatMap(ownKeys)];
    const reads = await checkClientReads(addresses, history, clients, () => allKeys);
    assert.equal(reads, [], `reads after the heal failed or were not causal:\n${reads.slice(0, 20).join('\n')}`);
    assert.equal(history.violations, [], 'clients saw non-causal answers during the partition');
    assert.ok(healMs <= healBoundMs, `convergence took ${healMs} ms after the heal (bound: hold-down ${holdDownMs} ms + 4000 ms)`);
  }
  console.log(`# converged after heal: median ${median(healTimes)} ms over ${healTimes.length} heals`);
});

test.run();
