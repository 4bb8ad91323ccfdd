import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { portBase, stopAll, type ReplicaProcess } from '../support/cluster.ts';
import {
  caughtUp,
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

// Three replicas take writes; a fourth starts later (VIEW = all four). It must join every view,
// get all the data that was written before it came, and take part from then on.

assertPrivateNamespace();
watchdog(240_000, 'crash-late-joiner');

const joinBoundMs = 5000; // from answering /health
const startBoundMs = 30_000; // from spawn: node itself can take seconds to start on a loaded CI machine
// Reading back every client's latest writes there: the load goes on, and on a loaded machine a
// probe that times out holds a link down for LINK_HOLD_DOWN_MS (5 s), so allow that and more.
const convergeBoundMs = 15_000; // hold-down (5 s) if a probe timed out spuriously on a loaded machine, and margin
const serveBoundMs = 10_000;
const { addresses, uids } = hostsOf(4, portBase('crash-late-joiner'));
const first = addresses.slice(0, 3);
const late = addresses[3]!;
const all: ReplicaProcess[] = [];

test.after(async () => {
  healAll();
  await stopAll(all);
  exitSoon();
});

test('a fourth replica started later joins every view and gets all the data', async () => {
  all.push(...(await startClusterPatiently(first, uids.slice(0, 3))));
  const rng = new Rng(seedFrom('crash-late-joiner'));
  const history = new History();
  const clients = Array.from({ length: 5 }, (_, i) => new Client(`c${i}`, history));
  const keysOf = (client: Client) => Array.from({ length: 6 }, (_, k) => `${client.name}-k${k}`);
  let targets = first;
  const load = new Load({ clients, rng, target: () => rng.pick(targets), keys: keysOf, readShare: 0.25, pauseMs: 5 }, 40_000);

  await sleep(1500);
  await until(() => history.ackedCount() >= 60, 5000);
  const cut = await caughtUp(first, [late]);
  const startAt = Date.now();
  all.push(await startPatiently({ address: late, view: addresses, uid: uids[3]! }));
  const healthyMs = Date.now() - startAt;
  let joinMs: number;
  let servedMs: number;
  try {
    await timeUntil(`${late} to be in every view`, viewsAre(addresses, addresses), startBoundMs, 25);
    await timeUntil(`${late} to hold everything the others held when it started`, cut, startBoundMs, 25);
    joinMs = Date.now() - startAt;
    await timeUntil(
      `${late} to serve every client's data`,
      async () => {
        const problems = await checkClientReads([late], history, clients, keysOf);
        return problems.length === 0 ? true : `${problems.length} reads failed, first: ${problems[0]}`;
      },
      serveBoundMs,
      100,
    );
    servedMs = Date.now() - startAt;
  } catch (error) {
    await load.stop();
    throw new Error(`${String(error)}\n${tailLogs(all)}`);
  }
  measure('late join (start until in every view and holding all data)', joinMs);
  measure('late join (process answering /health until in every view and holding all data)', joinMs - healthyMs);
  console.log(`# (answering /health after ${healthyMs} ms; every client's keys read back by ${servedMs} ms)`);

  targets = addresses; // clients use the new replica too
  const joinedAt = Date.now();
  const ackedByLateCount = () => clients.flatMap((c) => c.ops.filter((op) => op.kind === 'put' && op.ok && op.address === late)).length;
  await sleep(1000);
  await until(() => ackedByLateCount() >= 15, 6000);
  await load.stop();
  console.log(`# load: ${summarize(clients)}`);
  const ackedByLate = ackedByLateCount();
  const failedAfterJoin = clients.flatMap((c) => c.failures({ since: joinedAt }));
  assert.ok(ackedByLate >= 3, `too few writes acknowledged by the late joiner (${ackedByLate})`);
  assert.equal(failedAfterJoin.map((op) => `${op.kind} ${op.key} at ${op.address}: ${op.outcome}`), [], 'requests failed once all four were up');

  const convergeMs = await timeUntil('all four to converge', converged(addresses), convergeBoundMs);
  measure('converged after the load stopped', convergeMs);
  const values = await checkConvergedValues(addresses, history);
  assert.equal(values, [], `replicas disagree or lost acknowledged writes:\n${values.slice(0, 20).join('\n')}\n${tailLogs(all)}`);
  const reads = await checkClientReads(addresses, history, clients, keysOf);
  assert.equal(reads, [], `reads with the clients' latest metadata failed:\n${reads.slice(0, 20).join('\n')}`);
  assert.equal(history.violations, [], 'clients saw non-causal answers during the load');
  assert.ok(joinMs - healthyMs <= joinBoundMs, `join took ${joinMs - healthyMs} ms after /health answered (bound ${joinBoundMs} ms)`);
  assert.ok(joinMs <= startBoundMs, `join took ${joinMs} ms from the start (bound ${startBoundMs} ms)`);
});

test.run();
