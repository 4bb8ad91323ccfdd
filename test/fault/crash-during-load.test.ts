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
import { assertPrivateNamespace, healAll } from '../support/netns.ts';

// SIGKILL one of three replicas in the middle of a write load. Nothing a client saw acknowledged
// may be lost, the dead replica must leave every view within the detection bound, and the
// survivors must keep serving.

assertPrivateNamespace();
watchdog(240_000, 'crash-during-load');

const convergeBoundMs = 15_000; // hold-down (5 s) if a probe timed out spuriously on a loaded machine, and margin
const detectionBoundMs = 5000; // the design targets about 3 s (3 missed probes); margin for a loaded machine
const { addresses, uids } = hostsOf(3, portBase('crash-during-load'));
let replicas: ReplicaProcess[] = [];

test.after(async () => {
  healAll();
  await stopAll(replicas);
  exitSoon();
});

test('a replica killed with SIGKILL during a write load loses no acknowledged write and leaves every view', async () => {
  replicas = await startClusterPatiently(addresses, uids);
  const rng = new Rng(seedFrom('crash-during-load'));
  const history = new History();
  const clients = Array.from({ length: 6 }, (_, i) => new Client(`c${i}`, history));
  const keysOf = (client: Client) => Array.from({ length: 6 }, (_, k) => `${client.name}-k${k}`);
  const load = new Load({ clients, rng, target: () => rng.pick(addresses), keys: keysOf, readShare: 0.25, pauseMs: 5 }, 40_000);

  await sleep(1500);
  await until(() => history.ackedCount() >= 80, 6000);
  const victim = rng.int(0, addresses.length - 1);
  const dead = addresses[victim]!;
  const survivors = addresses.filter((a) => a !== dead);
  const ackedBeforeKill = history.ackedCount();
  const killedAt = Date.now();
  await replicas[victim]!.kill('SIGKILL');
  console.log(`# killed ${dead} after ${ackedBeforeKill} acknowledged writes`);

  let detectionMs: number;
  try {
    detectionMs = await timeUntil(`${dead} to leave every survivor's view`, viewsAre(survivors, survivors), 10_000, 25);
  } catch (error) {
    await load.stop();
    throw new Error(`${String(error)}\n${tailLogs(replicas)}`);
  }
  detectionMs += Date.now() - killedAt - detectionMs; // from the kill, not from the first poll
  measure('detection (kill -9 until gone from every survivor view)', detectionMs);
  const detectedAt = Date.now();

  const okOnSurvivorsSince = (since: number) => clients.flatMap((c) => c.ops.filter((op) => op.ok && survivors.includes(op.address) && op.startedAt >= since)).length;
  await sleep(2000);
  await until(() => okOnSurvivorsSince(detectedAt) >= 60, 6000);
  await load.stop();
  console.log(`# load: ${summarize(clients)}`);

  const survivorErrorsBefore = clients.flatMap((c) => c.failures({ addresses: survivors, since: killedAt, until: detectedAt }));
  const survivorErrorsAfter = clients.flatMap((c) => c.failures({ addresses: survivors, since: detectedAt }));
  const okAfter = okOnSurvivorsSince(detectedAt);
  console.log(`# survivors: ${survivorErrorsBefore.length} failed requests between kill and detection, ${survivorErrorsAfter.length} failed and ${okAfter} succeeded after detection`);

  assert.ok(history.ackedCount() >= 30, `the load made too few acknowledged writes (${history.ackedCount()}) to mean anything`);
  assert.ok(okAfter >= 10, `too few operations on the survivors after detection (${okAfter})`);
  assert.equal(
    survivorErrorsAfter.map((op) => `${op.kind} ${op.key} at ${op.address}: ${op.outcome}`),
    [],
    'requests to the survivors failed after the dead replica had left the views',
  );
  assert.ok(detectionMs <= detectionBoundMs, `detection took ${detectionMs} ms (bound ${detectionBoundMs} ms)`);

  const convergeMs = await timeUntil('the survivors to converge', converged(survivors), convergeBoundMs);
  measure('survivors converged after the load stopped', convergeMs);
  const values = await checkConvergedValues(survivors, history);
  assert.equal(values, [], `survivors disagree or lost acknowledged writes:\n${values.slice(0, 20).join('\n')}\n${tailLogs(replicas)}`);
  // Every client reads every key it wrote at both survivors, with its latest metadata.
  const reads = await checkClientReads(survivors, history, clients, keysOf);
  assert.equal(reads, [], `acknowledged writes not readable on the survivors with the clients' metadata:\n${reads.slice(0, 20).join('\n')}`);
  assert.equal(history.violations, [], 'clients saw non-causal answers during the load');
});

test.run();
