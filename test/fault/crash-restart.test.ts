import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { portBase, stopAll, type ReplicaProcess } from '../support/cluster.ts';
import {
  caughtUp,
  checkClientReads,
  checkConvergedValues,
  Client,
  converged,
  debugState,
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

// SIGKILL a replica during a load, let the others carry on, then start it again at the same
// address: a new process with its memory gone. It must rejoin every view, serve all the data,
// and nothing written before, during or after its absence may be lost.

assertPrivateNamespace();
watchdog(240_000, 'crash-restart');

const rejoinBoundMs = 5000; // from answering /health; the process start itself is not the store's doing
const startBoundMs = 30_000; // from spawn: node itself can take seconds to start on a loaded CI machine
// Reading back every client's latest writes there: the load goes on, and on a loaded machine a
// probe that times out holds a link down for LINK_HOLD_DOWN_MS (5 s), so allow that and more.
const convergeBoundMs = 15_000; // hold-down (5 s) if a probe timed out spuriously on a loaded machine, and margin
const serveBoundMs = 10_000;
const { addresses, uids } = hostsOf(3, portBase('crash-restart'));
const all: ReplicaProcess[] = [];

test.after(async () => {
  healAll();
  await stopAll(all);
  exitSoon();
});

test('a replica killed and restarted at the same address rejoins every view and ends with all the data', async () => {
  const replicas = await startClusterPatiently(addresses, uids);
  all.push(...replicas);
  const rng = new Rng(seedFrom('crash-restart'));
  const history = new History();
  const clients = Array.from({ length: 5 }, (_, i) => new Client(`c${i}`, history));
  const keysOf = (client: Client) => Array.from({ length: 6 }, (_, k) => `${client.name}-k${k}`);
  const load = new Load({ clients, rng, target: () => rng.pick(addresses), keys: keysOf, readShare: 0.25, pauseMs: 5 }, 40_000);

  await sleep(2000);
  const victim = rng.int(0, addresses.length - 1);
  const address = addresses[victim]!;
  const others = addresses.filter((a) => a !== address);
  const oldId = (await debugState(address)).id;
  await replicas[victim]!.kill('SIGKILL');
  const detectionMs = await timeUntil(`${address} to leave every view`, viewsAre(others, others), 10_000, 25);
  measure('detection (kill -9 until gone from every survivor view)', detectionMs);
  await sleep(1500); // writes while it is down

  const cut = await caughtUp(others, [address]); // what the survivors hold as it starts again
  const restartAt = Date.now();
  const restarted = await startPatiently({ address, view: addresses, uid: uids[victim]! });
  all.push(restarted);
  replicas[victim] = restarted;
  const healthyMs = Date.now() - restartAt;
  let rejoinMs: number;
  let servedMs: number;
  try {
    await timeUntil(`${address} to rejoin every view`, viewsAre(addresses, addresses), startBoundMs, 25);
    await timeUntil(`${address} to hold everything the others held when it started`, cut, startBoundMs, 25);
    rejoinMs = Date.now() - restartAt;
    // Serving the data: every client reads every key it wrote at the new process, with its latest
    // metadata (the load goes on meanwhile, so this is a moving target).
    await timeUntil(
      `${address} to serve every client's data`,
      async () => {
        const problems = await checkClientReads([address], history, clients, keysOf);
        return problems.length === 0 ? true : `${problems.length} reads failed, first: ${problems[0]}`;
      },
      serveBoundMs,
      100,
    );
    servedMs = Date.now() - restartAt;
  } catch (error) {
    await load.stop();
    throw new Error(`${String(error)}\n${tailLogs(replicas)}`);
  }
  measure('rejoin (start until in every view and holding all data)', rejoinMs);
  measure('rejoin (process answering /health until in every view and holding all data)', rejoinMs - healthyMs);
  console.log(`# (answering /health after ${healthyMs} ms; every client's keys read back by ${servedMs} ms)`);
  const newId = (await debugState(address)).id;
  assert.is.not(newId, oldId, 'the restarted replica reuses its previous identity');

  // Writes after the restart, some of them at the restarted replica.
  const ackedByNewLifeCount = () => clients.flatMap((c) => c.ops.filter((op) => op.kind === 'put' && op.ok && op.address === address && op.startedAt >= restartAt)).length;
  await sleep(1000);
  await until(() => ackedByNewLifeCount() >= 15, 6000);
  await load.stop();
  console.log(`# load: ${summarize(clients)}`);
  const ackedByNewLife = ackedByNewLifeCount();
  assert.ok(ackedByNewLife >= 3, `too few writes acknowledged by the restarted replica (${ackedByNewLife})`);
  assert.ok(history.ackedCount() >= 30, `the load made too few acknowledged writes (${history.ackedCount()})`);

  const convergeMs = await timeUntil('all three to converge', converged(addresses), convergeBoundMs);
  measure('converged after the load stopped', convergeMs);
  const values = await checkConvergedValues(addresses, history);
  assert.equal(values, [], `replicas disagree or lost acknowledged writes:\n${values.slice(0, 20).join('\n')}\n${tailLogs(replicas)}`);
  const reads = await checkClientReads(addresses, history, clients, keysOf);
  assert.equal(reads, [], `reads with the clients' latest metadata failed:\n${reads.slice(0, 20).join('\n')}`);
  assert.equal(history.violations, [], 'clients saw non-causal answers during the load');
  assert.ok(rejoinMs - healthyMs <= rejoinBoundMs, `rejoin took ${rejoinMs - healthyMs} ms after /health answered (bound ${rejoinBoundMs} ms)`);
  assert.ok(rejoinMs <= startBoundMs, `rejoin took ${rejoinMs} ms from the start (bound ${startBoundMs} ms)`);
});

test('writes acknowledged by a replica just restarted survive its next crash', async () => {
  // The window that matters: a new life has just come up, its peers still remember the old life's
  // failures (hold-down), and it takes writes. Each must be held by a peer before it is
  // acknowledged, so killing the new life right after the acknowledgements loses none of them.
  const port = portBase('crash-restart') + 1;
  const { addresses: addrs } = hostsOf(3, port);
  const replicas = await startClusterPatiently(addrs, uids);
  all.push(...replicas);
  const rng = new Rng(seedFrom('crash-restart second crash'));
  const history = new History();
  const rounds = 3;
  for (let round = 0; round < rounds; round++) {
    const victim = rng.int(0, addrs.length - 1);
    const address = addrs[victim]!;
    const others = addrs.filter((a) => a !== address);
    await replicas[victim]!.kill('SIGKILL');
    await timeUntil(`${address} to leave every view`, viewsAre(others, others), 10_000, 25);
    replicas[victim] = await startPatiently({ address, view: addrs, uid: uids[victim]! });
    all.push(replicas[victim]!);
    // As soon as it answers: one client writes to it, then it is killed again.
    const client = new Client(`r${round}`, history);
    const keys = Array.from({ length: 8 }, (_, k) => `${client.name}-k${k}`);
    for (const key of keys) await client.put(address, key);
    const acked = client.ops.filter((op) => op.ok).length;
    const states = await Promise.all(others.map(async (a) => JSON.stringify((await debugState(a)).peers.find((p) => p.address === address)?.link)));
    await replicas[victim]!.kill('SIGKILL');
    console.log(`# round ${round}: ${acked}/${keys.length} writes acknowledged by the new life of ${address}, then it was killed; peers' links to it were ${states.join(' ')}`);
    assert.ok(acked >= keys.length / 2, `round ${round}: the restarted replica acknowledged only ${acked} of ${keys.length} writes: ${summarize([client])}`);
    await timeUntil('the survivors to converge', converged(others), convergeBoundMs);
    const values = await checkConvergedValues(others, history);
    assert.equal(values, [], `round ${round}: writes acknowledged by the restarted ${address} were lost when it crashed again:\n${values.join('\n')}\n${tailLogs(replicas)}`);
    const reads = await checkClientReads(others, history, [client], () => keys);
    assert.equal(reads, [], `round ${round}: reads with the client's metadata failed on the survivors:\n${reads.join('\n')}`);
    replicas[victim] = await startPatiently({ address, view: addrs, uid: uids[victim]! });
    all.push(replicas[victim]!);
    await timeUntil(`${address} to rejoin every view`, viewsAre(addrs, addrs), 15_000, 25);
  }
  await timeUntil('all three to converge', converged(addrs), convergeBoundMs);
  const values = await checkConvergedValues(addrs, history);
  assert.equal(values, [], `replicas disagree or lost acknowledged writes:\n${values.slice(0, 20).join('\n')}`);
});

test.run();
