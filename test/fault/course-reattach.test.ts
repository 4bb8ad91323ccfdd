// The course's disconnect/reconnect timeline (issue 8), on real processes in a private network
// namespace, all settings at their defaults (CAUSAL_WAIT_MS 1000, LINK_HOLD_DOWN_MS 5000). Each
// scenario runs several times in a row; timings are printed so the margin can be reported.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startCluster, startReplica, stopAll, type ReplicaProcess } from '../support/cluster.ts';
import { get, getView, put, sleep, waitFor } from '../support/http.ts';
import { assertPrivateNamespace, healAll, isolate, outboundOnly, type Host } from '../support/netns.ts';

// 3 runs per scenario by default (COURSE_RUNS=5 or more to look for flakiness): 5 took 2 minutes of a test run that must stay under 10.
const runs = Number(process.env.COURSE_RUNS ?? 3);
const holdDownMs = 5000;
const ips = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];
const uids = [10002, 10003, 10004];
const hosts: Host[] = ips.map((ip, i) => ({ ip, uid: uids[i]! }));
const [hostA, hostB, hostC] = hosts as [Host, Host, Host];

let running: ReplicaProcess[] = [];
let portCounter = 0;
const timings: Record<string, number[]> = {};

function record(name: string, ms: number): void {
  (timings[name] ??= []).push(ms);
}

async function freshCluster(): Promise<{ a: string; b: string; c: string }> {
  await stopAll(running);
  healAll();
  const port = 13_100 + portCounter++;
  const addresses = ips.map((ip) => `${ip}:${port}`);
  running = await startCluster(addresses, {}, uids);
  // All three see each other before the scenario starts.
  await waitFor('full views', async () => (await Promise.all(addresses.map(getView))).every((v) => v.length === 3), 5000);
  const [a, b, c] = addresses as [string, string, string];
  return { a, b, c };
}

/** Step 1: b has ice-cream, is cut off, and a writes tea (c holds it). Returns both metadata. */
async function stepOne(a: string, b: string): Promise<{ m1: unknown; m2: unknown }> {
  const first = await put(a, 'matcha', 'ice-cream', null);
  assert.equal(first.status, 201);
  const m1 = first.body['causal-metadata'];
  await waitFor('b to serve ice-cream', async () => {
    const answer = await get(b, 'matcha', m1);
    return answer.status === 200 && answer.body.value === 'ice-cream';
  }, 3000);
  isolate(hostB, [hostA, hostC]);
  await sleep(1000);
  const second = await put(a, 'matcha', 'tea', m1);
  assert.equal(second.status, 200, JSON.stringify(second.body));
  assert.equal(second.body.result, 'replaced');
  return { m1, m2: second.body['causal-metadata'] };
}

/** Step 2 at b, one second after the re-attach: 503, 503, and the old value for old metadata. */
async function stepTwo(b: string, m1: unknown, m2: unknown, reattachedAt: number): Promise<void> {
  await sleep(1000 - (Date.now() - reattachedAt));
  const newRead = await get(b, 'matcha', m2);
  assert.equal(newRead.status, 503, `GET with new metadata: ${JSON.stringify(newRead.body)}`);
  assert.type(newRead.body.error, 'string');
  const newWrite = await put(b, 'matcha', 'latte', m2);
  assert.equal(newWrite.status, 503, `PUT with new metadata: ${JSON.stringify(newWrite.body)}`);
  const oldRead = await get(b, 'matcha', m1);
  assert.equal(oldRead.status, 200, `GET with old metadata: ${JSON.stringify(oldRead.body)}`);
  assert.equal(oldRead.body.value, 'ice-cream');
  record('last old-metadata check after re-attach (ms)', Date.now() - reattachedAt);
}

/** Step 3: b catches up by itself; returns ms from re-attach until it serves tea. */
async function awaitCatchUp(b: string, m2: unknown, reattachedAt: number): Promise<number> {
  await waitFor('b to serve tea', async () => {
    const answer = await get(b, 'matcha', m2, { timeoutMs: 3000 });
    if (answer.status === 200) assert.equal(answer.body.value, 'tea', 'b must never serve stale data for new metadata');
    return answer.status === 200;
  }, holdDownMs + 3000 - (Date.now() - reattachedAt), 100);
  return Date.now() - reattachedAt;
}

test.before(() => {
  assertPrivateNamespace();
});

test.after(async () => {
  healAll();
  await stopAll(running);
  for (const [name, values] of Object.entries(timings)) {
    const sorted = [...values].sort((x, y) => x - y);
    console.log(`# ${name}: median ${sorted[Math.floor(sorted.length / 2)]} (min ${sorted[0]}, max ${sorted.at(-1)}, n=${sorted.length})`);
  }
});

for (let run = 1; run <= runs; run++) {
  test(`a replica re-attached at its old address keeps answering 503, then catches up (run ${run}/${runs})`, async () => {
    const { a, b } = await freshCluster();
    const { m1, m2 } = await stepOne(a, b);
    healAll();
    const reattachedAt = Date.now();
    await stepTwo(b, m1, m2, reattachedAt);
    const catchUpMs = await awaitCatchUp(b, m2, reattachedAt);
    record('catch-up after re-attach at old address (ms)', catchUpMs);
    record('margin over the old-metadata check (ms)', catchUpMs - timings['last old-metadata check after re-attach (ms)']!.at(-1)!);
  });
}

for (let run = 1; run <= runs; run++) {
  test(`a replica re-attached at a new address (outbound only) never serves stale data, then catches up once reachable (run ${run}/${runs})`, async () => {
    const { a, b } = await freshCluster();
    const { m1, m2 } = await stepOne(a, b);
    outboundOnly(hostB, [hostA, hostC]);
    const reattachedAt = Date.now();
    await stepTwo(b, m1, m2, reattachedAt);
    // Well past the hold-down, b still cannot be sent what it missed, and does not pull it.
    while (Date.now() - reattachedAt < holdDownMs + 2000) {
      const answer = await get(b, 'matcha', m2);
      assert.equal(answer.status, 503, `while unreachable, b must answer 503 for new metadata: ${JSON.stringify(answer.body)}`);
    }
    healAll();
    const openedAt = Date.now();
    record('catch-up after inbound opens (ms)', await awaitCatchUp(b, m2, openedAt));
  });
}

for (let run = 1; run <= runs; run++) {
  test(`a replica killed and restarted at the same address rejoins and serves everything within 2 s (run ${run}/${runs})`, async () => {
    const { a, b, c } = await freshCluster();
    const first = await put(a, 'matcha', 'ice-cream', null);
    const second = await put(c, 'matcha', 'tea', first.body['causal-metadata']);
    const m2 = second.body['causal-metadata'];
    const bIndex = running.findIndex((r) => r.address === b);
    await running[bIndex]!.kill('SIGKILL');
    const third = await put(a, 'hojicha', 'latte', m2);
    assert.equal(third.status, 201);
    const m3 = third.body['causal-metadata'];
    const startedAt = Date.now();
    running[bIndex] = await startReplica({ address: b, view: [a, b, c], uid: hostB.uid });
    await waitFor('b to serve everything', async () => {
      const tea = await get(b, 'matcha', m3);
      const latte = await get(b, 'hojicha', m3);
      return tea.status === 200 && tea.body.value === 'tea' && latte.status === 200 && latte.body.value === 'latte';
    }, 2000 - (Date.now() - startedAt), 50);
    await waitFor('b in every view', async () => (await Promise.all([a, b, c].map(getView))).every((v) => v.includes(b) && v.length === 3), 2000);
    record('restart: start until serving everything and in every view (ms)', Date.now() - startedAt);
  });
}

test.run();
