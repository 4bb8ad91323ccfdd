import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { portBase, stopAll, type ReplicaProcess } from '../support/cluster.ts';
import {
  checkClientReads,
  checkConvergedValues,
  Client,
  converged,
  debugState,
  exitSoon,
  History,
  hostsOf,
  startClusterPatiently,
  tailLogs,
  unheldDependencies,
  timeUntil,
  viewsAre,
  watchdog,
} from '../support/fault-kit.ts';
import { sleep } from '../support/http.ts';
import { assertPrivateNamespace, healAll } from '../support/netns.ts';

// A replica stalls for a moment (SIGSTOP/SIGCONT: what a long GC pause, a VM hiccup or CPU
// starvation on a loaded host looks like from outside; probes to it time out meanwhile) and then
// crashes. A stall is not a crash, so this is a single crash: every write it acknowledged must
// survive on the other two.

assertPrivateNamespace();
watchdog(120_000, 'crash-after-pause');

const pauseMs = Number(process.env.PAUSE_MS ?? 1500); // longer than a probe timeout, shorter than failure detection
const { addresses, uids } = hostsOf(3, portBase('crash-after-pause'));
let replicas: ReplicaProcess[] = [];

test.after(async () => {
  healAll();
  for (const replica of replicas) if (replica.running) process.kill(replica.pid, 'SIGCONT');
  await stopAll(replicas);
  exitSoon();
});

test('writes a replica acknowledges right after a stall survive its crash', async () => {
  replicas = await startClusterPatiently(addresses, uids);
  await timeUntil('the views to form', viewsAre(addresses, addresses), 20_000);
  const history = new History();
  const client = new Client('p', history);
  const [stalled, ...others] = addresses as [string, ...string[]];
  const keys = ['before', ...Array.from({ length: 5 }, (_, k) => `after-${k}`)];
  assert.ok(await client.put(stalled, 'before'), 'the first write was not acknowledged');

  process.kill(replicas[0]!.pid, 'SIGSTOP');
  await sleep(pauseMs);
  process.kill(replicas[0]!.pid, 'SIGCONT');
  await sleep(200);
  for (const key of keys.slice(1)) await client.put(stalled, key);
  const links = (await debugState(stalled)).peers.map((p) => `${p.address}: ${JSON.stringify(p.link)}`);
  await replicas[0]!.kill('SIGKILL');
  const acked = client.ops.filter((op) => op.ok).length;
  console.log(`# ${acked}/${keys.length} writes acknowledged by ${stalled}; its links when it was killed:\n#   ${links.join('\n#   ')}`);
  assert.ok(acked >= 3, `too few writes acknowledged after the stall (${acked})`);

  await timeUntil('the survivors to converge', converged(others), 10_000);
  const values = await checkConvergedValues(others, history);
  const lost = await unheldDependencies(others, client.metadata);
  assert.equal(
    values,
    [],
    `writes acknowledged by ${stalled} after a ${pauseMs} ms stall were lost when it crashed:\n${values.join('\n')}\n` +
      `the client's metadata now depends on events no survivor holds: ${lost.join(', ')}\n${tailLogs(replicas, 15)}`,
  );
  const reads = await checkClientReads(others, history, [client], () => keys);
  assert.equal(reads, [], reads.join('\n'));
});

test.run();
