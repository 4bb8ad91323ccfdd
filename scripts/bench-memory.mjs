// Memory benchmark (issue 4): does memory follow the number of keys, not the number of writes?
//
//   node scripts/bench-memory.mjs            (MEM_WRITES=1000000 MEM_KEYS=1000 JOIN_KEYS=100000)
//
// A 3-replica cluster from the bundle on loopback (run with --expose-gc so "after GC" means it).
// Writes MEM_KEYS keys, then MEM_WRITES overwrites spread over the replicas; reports each
// replica's log length and heap/RSS after the first pass and at the end (after GC, once writes
// stopped and compaction ran). Then loads JOIN_KEYS distinct keys and times a new replica's join:
// from its start until its delivered clock equals the others'. Not a test: it asserts nothing and
// prints the figures and the ratios against the targets.
import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const writes = Number(process.env.MEM_WRITES ?? 1_000_000);
const keys = Number(process.env.MEM_KEYS ?? 1000);
const joinKeys = Number(process.env.JOIN_KEYS ?? 100_000);
const concurrency = Number(process.env.MEM_CONCURRENCY ?? 48);
const port = 18_500;
const addresses = ['127.0.0.31', '127.0.0.32', '127.0.0.33'].map((ip) => `${ip}:${port}`);
const joiner = `127.0.0.34:${port}`;
const bundle = fileURLToPath(new URL('../dist/kvs.mjs', import.meta.url));
const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
const children = [];

function startReplica(address, view) {
  const child = spawn(process.execPath, ['--expose-gc', bundle], {
    env: { PATH: process.env.PATH, SOCKET_ADDRESS: address, VIEW: view.join(','), LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'inherit', 'inherit'], // LOG_LEVEL=warn: only warnings and errors
  });
  children.push(child);
  return child;
}

function stopAll() {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}
process.on('exit', stopAll);
process.on('SIGINT', () => process.exit(130));

function call(method, address, path, body) {
  return new Promise((resolve, reject) => {
    const [host, p] = address.split(':');
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request({ host, port: Number(p), path, method, agent, headers: data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {} }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode, body: text ? JSON.parse(text) : undefined }));
    });
    req.setTimeout(30_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(data);
  });
}


async function waitUntil(what, check, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch {
      // not up yet
    }
    await sleep(20);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Runs `total` PUTs with `concurrency` in flight; key and replica chosen by `pick(i)`. */
async function writeLoad(total, pick, label) {
  let next = 0;
  let failures = 0;
  const started = Date.now();
  let reported = 0;
  async function worker() {
    while (next < total) {
      const i = next++;
      const { address, key } = pick(i);
      const answer = await call('PUT', address, `/kvs/${key}`, { value: i, 'causal-metadata': null });
      if (answer.status !== 200 && answer.status !== 201) failures++;
      if (next - reported >= total / 10) {
        reported = next;
        process.stdout.write(`  ${label}: ${next}/${total} (${Math.round(next / ((Date.now() - started) / 1000))}/s)\n`);
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { seconds: (Date.now() - started) / 1000, failures };
}

async function states(list) {
  return Promise.all(list.map(async (address) => (await call('GET', address, '/debug/state')).body));
}

/** Waits for writes to settle and the log to compact, collects garbage, and reads each replica. */
async function measure(label) {
  await waitUntil('the log to compact', async () => (await states(addresses)).every((s) => s.logLength <= 10), 30_000).catch(() => {});
  const out = [];
  for (const address of addresses) {
    await call('POST', address, '/debug/gc');
    await call('POST', address, '/debug/gc');
    const state = (await call('GET', address, '/debug/state')).body;
    out.push({ address, logLength: state.logLength, liveKeys: state.liveKeys, heapUsedMB: state.memory.heapUsedBytes / 2 ** 20, rssMB: state.memory.rssBytes / 2 ** 20 });
  }
  console.log(`\n${label}`);
  console.table(out.map((r) => ({ ...r, heapUsedMB: r.heapUsedMB.toFixed(1), rssMB: r.rssMB.toFixed(1) })));
  return out;
}

function sameClock(a, b) {
  const keysA = Object.keys(a);
  return keysA.length === Object.keys(b).length && keysA.every((k) => a[k] === b[k]);
}

try {
  for (const address of addresses) startReplica(address, addresses);
  for (const address of addresses) await waitUntil(`${address} up`, async () => (await call('GET', address, '/health')).status === 200, 10_000);

  await writeLoad(keys, (i) => ({ address: addresses[i % 3], key: `k${i}` }), 'first pass');
  const first = await measure(`after the first ${keys} writes (after GC)`);

  const load = await writeLoad(writes, (i) => ({ address: addresses[i % 3], key: `k${(i * 7919) % keys}` }), 'overwrites');
  console.log(`\n${writes} overwrites in ${load.seconds.toFixed(1)} s (${Math.round(writes / load.seconds)}/s), ${load.failures} failed`);
  const end = await measure(`after ${writes} overwrites (after GC)`);

  const ratios = end.map((r, i) => r.heapUsedMB / first[i].heapUsedMB);
  const rssRatios = end.map((r, i) => r.rssMB / first[i].rssMB);
  console.log(`heap end/first: ${ratios.map((r) => r.toFixed(2)).join(', ')}   (target <= 1.5)`);
  console.log(`rss  end/first: ${rssRatios.map((r) => r.toFixed(2)).join(', ')}`);
  console.log(`log length at the end: ${end.map((r) => r.logLength).join(', ')}   (target: near zero)`);

  await writeLoad(joinKeys, (i) => ({ address: addresses[i % 3], key: `j${i}` }), 'join store');
  await waitUntil('cluster to settle', async () => {
    const s = await states(addresses);
    return s.every((x) => sameClock(x.clock, s[0].clock));
  }, 30_000);
  const target = (await states(addresses))[0];
  const joinStarted = Date.now();
  startReplica(joiner, [...addresses, joiner]);
  await waitUntil('the new replica to catch up', async () => {
    const state = (await call('GET', joiner, '/debug/state')).body;
    return Object.keys(target.clock).every((k) => (state.clock[k] ?? 0) >= target.clock[k]);
  }, 60_000);
  const joinSeconds = (Date.now() - joinStarted) / 1000;
  const joined = (await call('GET', joiner, '/debug/state')).body;
  console.log(`\nnew replica joined a ${target.liveKeys}-key store and caught up in ${joinSeconds.toFixed(2)} s (process start included; target < 2 s); it holds ${joined.liveKeys} keys`);
} finally {
  stopAll();
}
