// The course's re-attach timeline (issue 8) while clients keep writing at the other two replicas
// throughout the cut and the re-attach: pushes are in flight when the link is cut, and a busy
// link must still be held down honestly and then heal within LINK_HOLD_DOWN_MS + 3 s.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startCluster, stopAll, type ReplicaProcess } from '../support/cluster.ts';
import { get, getView, put, sleep, waitFor } from '../support/http.ts';
import { assertPrivateNamespace, healAll, isolate, type Host } from '../support/netns.ts';

const runs = Number(process.env.COURSE_RUNS ?? 3);
const holdDownMs = 5000;
const ips = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];
const uids = [10002, 10003, 10004];
const [hostA, hostB, hostC] = ips.map((ip, i) => ({ ip, uid: uids[i]! })) as [Host, Host, Host];
/** Each load client stops after this many writes, whatever happens (bounded loops). */
const loadWritesMax = 5000;

let running: ReplicaProcess[] = [];
const catchUps: number[] = [];

/** One client writing in a loop at `address`, carrying its metadata, until `stopped()` holds. */
async function writeLoad(address: string, name: string, stopped: () => boolean): Promise<number> {
  let metadata: unknown = null;
  let acknowledged = 0;
  for (let i = 0; i < loadWritesMax && !stopped(); i++) {
    const answer = await put(address, `${name}-${i % 50}`, i, metadata, { timeoutMs: 5000 });
    if (answer.status === 200 || answer.status === 201) {
      metadata = answer.body['causal-metadata'];
      acknowledged++;
    }
  }
  return acknowledged;
}

test.before(() => {
  assertPrivateNamespace();
});

test.after(async () => {
  healAll();
  await stopAll(running);
  const sorted = [...catchUps].sort((x, y) => x - y);
  console.log(`# catch-up after re-attach under write load (ms): median ${sorted[Math.floor(sorted.length / 2)]} (min ${sorted[0]}, max ${sorted.at(-1)}, n=${sorted.length})`);
});

for (let run = 1; run <= runs; run++) {
  test(`under write load, a re-attached replica keeps answering 503, then catches up (run ${run}/${runs})`, async () => {
    await stopAll(running);
    healAll();
    const port = 14_100 + run;
    const addresses = ips.map((ip) => `${ip}:${port}`);
    running = await startCluster(addresses, {}, uids);
    await waitFor('full views', async () => (await Promise.all(addresses.map(getView))).every((v) => v.length === 3), 5000);
    const [a, b, c] = addresses as [string, string, string];
    let stopped = false;
    const loads = [writeLoad(a, 'load-a', () => stopped), writeLoad(c, 'load-c', () => stopped)];
    try {
      const first = await put(a, 'matcha', 'ice-cream', null);
      const m1 = first.body['causal-metadata'];
      await waitFor('b to serve ice-cream', async () => (await get(b, 'matcha', m1)).status === 200, 3000);
      isolate(hostB, [hostA, hostC]);
      await sleep(1000);
      const second = await put(a, 'matcha', 'tea', m1);
      assert.is(second.status, 200, JSON.stringify(second.body));
      const m2 = second.body['causal-metadata'];
      healAll();
      const reattachedAt = Date.now();
      await sleep(1000 - (Date.now() - reattachedAt));
      const newRead = await get(b, 'matcha', m2);
      assert.is(newRead.status, 503, `GET with new metadata one second after re-attach: ${JSON.stringify(newRead.body)}`);
      const oldRead = await get(b, 'matcha', m1);
      assert.is(oldRead.status, 200, JSON.stringify(oldRead.body));
      assert.is(oldRead.body.value, 'ice-cream');
      await waitFor('b to serve tea', async () => {
        const answer = await get(b, 'matcha', m2, { timeoutMs: 3000 });
        if (answer.status === 200) assert.is(answer.body.value, 'tea', 'never stale data for new metadata');
        return answer.status === 200;
      }, holdDownMs + 3000 - (Date.now() - reattachedAt), 100);
      catchUps.push(Date.now() - reattachedAt);
    } finally {
      stopped = true;
      await Promise.all(loads);
    }
    const acknowledged = await Promise.all(loads);
    assert.ok(acknowledged.every((n) => n > 0), `both load clients had writes acknowledged: ${acknowledged.join(', ')}`);
  });
}

test.run();
