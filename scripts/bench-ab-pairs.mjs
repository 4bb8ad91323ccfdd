// Does bundle B write faster or cheaper than bundle A, in a 3-replica cluster, with DATA_DIR or without?
//
//   node scripts/bench-ab-pairs.mjs OLD.mjs NEW.mjs   (AB_STORAGE=disk|memory AB_PAIRS=5 AB_SECONDS=6 AB_CONNECTIONS=48)
//
// Where bench-ab.mjs runs A and B at the same time, this one runs them one after the other, in
// pairs (A then B, then B then A, ...), each on a fresh cluster: a write's cost depends on how many
// writes share a push and an fdatasync, so on the throughput, and two clusters sharing the cores
// disturb each other's batching more than the machine's drift between two runs a few seconds apart
// does. Each run: 2 s of warm-up, then AB_SECONDS measured (closed-loop PUTs of 1,000 keys, clients
// carrying their metadata). Reported per run: writes/s, server CPU per write (user + system of the
// three replicas, from /proc), fdatasyncs and pushes per write, p50 latency; per pair, B/A; at the
// end the median of the pair ratios. On this 2-vCPU VM two copies of one bundle give about 1.08x
// writes/s and 0.97x CPU over 3 pairs: only a difference past that, over many pairs, means anything.
// Not a test; it asserts nothing. Every process it starts is stopped by PID, every DATA_DIR removed.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { cpuMeter, freePort, linksUp, metadataCarryingClient, ServerProcesses } from './bench-processes.mjs';
import { intEnv } from './bench-settings.mjs';

const [bundleA, bundleB] = process.argv.slice(2);
const storage = process.env.AB_STORAGE ?? 'disk';
const pairs = intEnv('AB_PAIRS', 5);
const seconds = intEnv('AB_SECONDS', 6);
const connections = intEnv('AB_CONNECTIONS', 48);
const warmupSeconds = 2;
const keys = 1000;
const servers = new ServerProcesses();
const dataDirs = new Set();
process.on('exit', () => {
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
});

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};
const debugState = async (address) => (await fetch(`http://${address}/debug/state`)).json();

/** The replicas' fdatasyncs and pushes so far, summed. */
async function counts(addresses) {
  let fsyncs = 0;
  let pushes = 0;
  for (const address of addresses) {
    fsyncs += (await debugState(address)).storage.fsyncs?.count ?? 0;
    const metrics = await (await fetch(`http://${address}/metrics`)).text();
    pushes += Number(/^kvs_pushes_total(?:\{[^}]*\})? (\d+)/m.exec(metrics)?.[1] ?? NaN);
  }
  return { fsyncs, pushes };
}

/** Three replicas of `bundle` (each with a DATA_DIR of its own, FSYNC=batch, when AB_STORAGE=disk), links up. */
async function startCluster(bundle) {
  const addresses = [];
  for (let i = 0; i < 3; i++) addresses.push(`127.0.0.1:${await freePort()}`);
  const dirs = addresses.map(() => {
    if (storage !== 'disk') return undefined;
    const dir = mkdtempSync(path.join(tmpdir(), 'kvs-bench-ab-pairs-'));
    dataDirs.add(dir);
    return dir;
  });
  const storageEnv = (i) => (dirs[i] === undefined ? {} : { DATA_DIR: dirs[i], FSYNC: 'batch' });
  const children = await Promise.all(addresses.map((address, i) => servers.start(bundle, address, { SOCKET_ADDRESS: address, VIEW: addresses.join(','), ...storageEnv(i) })));
  for (let i = 0; ; i++) {
    if ((await Promise.all(addresses.map(debugState))).every((state) => linksUp(state, 3))) break;
    if (i >= 100) throw new Error(`${bundle}: the replicas did not all see their peers up within 10 s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { addresses, children, dirs };
}

async function run(autocannon, bundle) {
  const cluster = await startCluster(bundle);
  const load = (duration) =>
    autocannon({
      url: cluster.addresses.map((address) => `http://${address}`),
      connections,
      duration,
      requests: [{ method: 'GET', path: '/health' }], // replaced per client in setupClient
      setupClient: metadataCarryingClient('PUT', keys),
    });
  try {
    await load(warmupSeconds);
    const before = await counts(cluster.addresses);
    const cpuMs = cpuMeter(cluster.children.map((child) => child.pid));
    const result = await load(seconds);
    const cpu = cpuMs();
    const after = await counts(cluster.addresses);
    const writes = result.requests.total;
    return {
      writesPerSecond: writes / result.duration,
      cpuUsPerWrite: (cpu * 1000) / writes,
      fsyncsPerWrite: (after.fsyncs - before.fsyncs) / writes,
      pushesPerWrite: (after.pushes - before.pushes) / writes,
      p50: result.latency.p50,
      failed: result.non2xx + result.errors,
    };
  } finally {
    for (const child of cluster.children) await servers.stop(child);
    for (const dir of cluster.dirs) {
      if (dir === undefined) continue;
      rmSync(dir, { recursive: true, force: true });
      dataDirs.delete(dir);
    }
  }
}

const describe = (r) =>
  `${r.writesPerSecond.toFixed(0)} | ${r.cpuUsPerWrite.toFixed(0)} | ${r.fsyncsPerWrite.toFixed(3)} | ${r.pushesPerWrite.toFixed(3)} | ${r.p50} | ${r.failed}`;

async function main() {
  if (bundleA === undefined || bundleB === undefined) throw new Error('usage: node scripts/bench-ab-pairs.mjs A.mjs B.mjs');
  if (storage !== 'disk' && storage !== 'memory') throw new Error('AB_STORAGE is disk or memory');
  const { default: autocannon } = await import('autocannon');
  console.log(`\n## A/B in pairs, ${storage === 'disk' ? 'DATA_DIR, FSYNC=batch' : 'memory'}: A = ${bundleA}, B = ${bundleB}; 3 replicas, ${connections} writers, ${seconds} s per run\n`);
  console.log('| pair | A writes/s | A CPU us/write | A fsyncs/write | A pushes/write | A p50 ms | A failed | B writes/s | B CPU us/write | B fsyncs/write | B pushes/write | B p50 ms | B failed | B/A writes/s | B/A CPU |');
  console.log(`|${' ---: |'.repeat(15)}`);
  const writeRatios = [];
  const cpuRatios = [];
  for (let pair = 1; pair <= pairs; pair++) {
    // Alternate which goes first, so a drift of the machine within a pair does not favour one side.
    const order = pair % 2 === 1 ? ['A', 'B'] : ['B', 'A'];
    const results = {};
    for (const side of order) results[side] = await run(autocannon, side === 'A' ? bundleA : bundleB);
    writeRatios.push(results.B.writesPerSecond / results.A.writesPerSecond);
    cpuRatios.push(results.B.cpuUsPerWrite / results.A.cpuUsPerWrite);
    console.log(`| ${pair} | ${describe(results.A)} | ${describe(results.B)} | ${writeRatios.at(-1).toFixed(3)} | ${cpuRatios.at(-1).toFixed(3)} |`);
  }
  const list = (values) => values.map((value) => value.toFixed(3)).join(', ');
  console.log(`\nmedian B/A over ${pairs} pairs: writes/s ${median(writeRatios).toFixed(3)} (${list(writeRatios)}); CPU per write ${median(cpuRatios).toFixed(3)} (${list(cpuRatios)})`);
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
