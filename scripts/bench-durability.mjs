// What DATA_DIR costs, and whether the disk follows the live keys.
//
//   node scripts/bench-durability.mjs     (BENCH_SECONDS=6 BENCH_REPEAT=5 BENCH_CONNECTIONS=48 BENCH_OVERWRITES=1000000)
//
// 1. Write throughput: the same 3-replica cluster (dist/kvs.mjs on 127.0.0.1, free ports) and the
//    same write load (autocannon, random keys of 1,000, every client carrying its causal metadata)
//    in memory (no DATA_DIR) and with DATA_DIR (FSYNC=batch, a temporary directory each), a fresh
//    cluster per run, interleaved in one run (the order alternates per repeat, so drift cancels
//    out). Reports each run, the medians and their ratio (target: disk/memory >= 0.7), the median
//    of the ratios of each repeat's back-to-back pair (on a shared machine the speed drifts between
//    repeats; within a pair much less), the server CPU time per write (the three replicas together,
//    from /proc), and for the disk runs the fsyncs per write (group commit) and the fsync latency
//    from /debug/state (p50 and p99 as the upper bound of their histogram bucket, and the mean).
// 2. Disk after BENCH_OVERWRITES overwrites of 1,000 keys (DATA_DIR, FSYNC=batch): each replica's
//    bytes on disk (from /debug/state, checked against the files at the end) every tenth of the
//    writes, and the most seen at any poll (every 250 ms: a snapshot comes every few MiB, so the
//    tenths alone would alias a saw-tooth into a slope), and how many snapshots were written. It must
//    follow the live keys, not the writes: snapshots replace the segments they cover.
// Not a test; it asserts nothing and prints tables. Every process it starts is stopped by PID
// (also on errors and SIGINT), and its temporary directories are removed.
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildBenchBundles } from './bench-bundles.mjs';
import { cpuMeter, freePort, linksUp, metadataCarryingClient, ServerProcesses } from './bench-processes.mjs';
import { median } from './bench-stats.mjs';

const seconds = Number(process.env.BENCH_SECONDS ?? 6);
const repeat = Number(process.env.BENCH_REPEAT ?? 5);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 48);
const overwrites = Number(process.env.BENCH_OVERWRITES ?? 1_000_000);
const keys = 1000;
const warmupSeconds = 2;
const servers = new ServerProcesses();
const tempDirs = [];
process.on('exit', () => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

const log = (message) => console.error(`[durability] ${message}`);
const mib = (bytes) => (bytes / 2 ** 20).toFixed(2);

/** Three replicas of `bundle`; with `disk`, each with a DATA_DIR of its own (FSYNC=batch). Waits until every link is up. */
async function startCluster(bundle, disk) {
  const addresses = [];
  for (let i = 0; i < 3; i++) addresses.push(`127.0.0.1:${await freePort()}`);
  const dirs = addresses.map(() => {
    if (!disk) return undefined;
    const dir = mkdtempSync(path.join(tmpdir(), 'kvs-bench-durability-'));
    tempDirs.push(dir);
    return dir;
  });
  const children = await Promise.all(
    addresses.map((address, i) =>
      servers.start(bundle, address, { SOCKET_ADDRESS: address, VIEW: addresses.join(','), ...(disk ? { DATA_DIR: dirs[i], FSYNC: 'batch' } : {}) }),
    ),
  );
  for (let i = 0; ; i++) {
    const states = await Promise.all(addresses.map(debugState));
    if (states.every((state) => linksUp(state, 3))) break;
    if (i >= 100) throw new Error('the replicas did not all see their peers up within 10 s');
    await sleep(100);
  }
  return { addresses, children, dirs };
}

async function stopCluster(cluster) {
  for (const child of cluster.children) await servers.stop(child);
  for (const dir of cluster.dirs) if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
}

async function debugState(address) {
  return (await fetch(`http://${address}/debug/state`)).json();
}

function writeLoad(autocannon, addresses, options) {
  return autocannon({
    url: addresses.map((address) => `http://${address}`),
    connections,
    requests: [{ method: 'GET', path: '/health' }], // replaced per client in setupClient
    setupClient: metadataCarryingClient('PUT', keys),
    ...options,
  });
}

/** The upper bound of the bucket holding quantile `q` of a describe() histogram, in ms (Infinity: above every bound). */
function bucketQuantile({ boundsMs, counts, count }, q) {
  if (count === 0) return null;
  let cumulative = 0;
  for (let i = 0; i < counts.length; i++) {
    cumulative += counts[i];
    if (cumulative >= q * count) return boundsMs[i] ?? Infinity;
  }
  return Infinity;
}

/** Sums describe()'s fsync histograms of the replicas. */
function mergeFsyncs(histograms) {
  const boundsMs = histograms[0].boundsMs;
  const counts = boundsMs.map(() => 0).concat(0);
  let count = 0;
  let sumMs = 0;
  for (const h of histograms) {
    h.counts.forEach((c, i) => (counts[i] += c));
    count += h.count;
    sumMs += h.sumMs;
  }
  return { boundsMs, counts, count, sumMs };
}

const fmtMs = (ms) => (ms === null ? '-' : ms === Infinity ? '> 1000' : `<= ${ms}`);

/** Bytes of the files in `dir` (what describe() should say, plus meta.json and LOCK). */
function filesBytes(dir) {
  let bytes = 0;
  for (const name of readdirSync(dir)) bytes += statSync(path.join(dir, name)).size;
  return bytes;
}

async function throughput(autocannon, bundle) {
  console.log(`\n## write throughput: 3 replicas, ${connections} writers, 1,000 keys, ${seconds} s per run, ${repeat} repeats (memory and DATA_DIR interleaved)\n`);
  console.log('| repeat | mode | writes/s | p50 ms | p99 ms | non-2xx | server CPU us/write | fsyncs/write | fsync p50 ms | fsync p99 ms | fsync mean ms |');
  console.log('| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  const rates = { memory: [], disk: [] };
  const cpu = { memory: [], disk: [] };
  const pairRatios = [];
  const fsyncP99 = [];
  for (let r = 1; r <= repeat; r++) {
    const order = r % 2 === 1 ? ['memory', 'disk'] : ['disk', 'memory'];
    for (const mode of order) {
      const cluster = await startCluster(bundle, mode === 'disk');
      try {
        await writeLoad(autocannon, cluster.addresses, { duration: warmupSeconds });
        const before = mode === 'disk' ? mergeFsyncs((await Promise.all(cluster.addresses.map(debugState))).map((s) => s.storage.fsyncs)) : undefined;
        const cpuMs = cpuMeter(cluster.children.map((child) => child.pid));
        const result = await writeLoad(autocannon, cluster.addresses, { duration: seconds });
        const cpuPerWrite = (cpuMs() * 1000) / result.requests.total;
        const rate = result.requests.total / result.duration;
        rates[mode].push(rate);
        cpu[mode].push(cpuPerWrite);
        let fsyncCells = ['-', '-', '-', '-'];
        if (before !== undefined) {
          const after = mergeFsyncs((await Promise.all(cluster.addresses.map(debugState))).map((s) => s.storage.fsyncs));
          const window = { boundsMs: after.boundsMs, counts: after.counts.map((c, i) => c - before.counts[i]), count: after.count - before.count, sumMs: after.sumMs - before.sumMs };
          const p99 = bucketQuantile(window, 0.99);
          fsyncP99.push(p99);
          fsyncCells = [(window.count / result.requests.total).toFixed(3), fmtMs(bucketQuantile(window, 0.5)), fmtMs(p99), (window.sumMs / window.count).toFixed(2)];
        }
        console.log(`| ${r} | ${mode === 'disk' ? 'DATA_DIR, FSYNC=batch' : 'memory'} | ${rate.toFixed(0)} | ${result.latency.p50} | ${result.latency.p99} | ${result.non2xx} | ${cpuPerWrite.toFixed(0)} | ${fsyncCells.join(' | ')} |`);
      } finally {
        await stopCluster(cluster);
      }
    }
    pairRatios.push(rates.disk.at(-1) / rates.memory.at(-1));
  }
  const memory = median(rates.memory);
  const disk = median(rates.disk);
  console.log(`\nmedian writes/s: memory ${memory.toFixed(0)}, DATA_DIR (FSYNC=batch) ${disk.toFixed(0)}; ratio disk/memory ${(disk / memory).toFixed(2)} (target >= 0.7)`);
  console.log(`per repeat (back-to-back pairs), disk/memory writes/s: ${pairRatios.map((r) => r.toFixed(2)).join(', ')}; median ${median(pairRatios).toFixed(2)}`);
  console.log(`median server CPU per write (3 replicas): memory ${median(cpu.memory).toFixed(0)} us, DATA_DIR ${median(cpu.disk).toFixed(0)} us; ratio ${(median(cpu.disk) / median(cpu.memory)).toFixed(2)}`);
  console.log(`fsync p99 per disk run (bucket upper bound, ms, all three replicas): ${fsyncP99.map(fmtMs).join(', ')}`);
}

async function diskFollowsKeys(autocannon, bundle) {
  console.log(`\n## disk after ${overwrites.toLocaleString('en')} overwrites of 1,000 keys (DATA_DIR, FSYNC=batch, 3 replicas, ${connections} writers)\n`);
  const cluster = await startCluster(bundle, true);
  try {
    console.log('| writes done | elapsed s | writes/s (so far) | disk MiB per replica (describe) | most so far, MiB | snapshots so far | segments | last snapshot KiB | live keys |');
    console.log('| ---: | ---: | ---: | --- | --- | --- | --- | --- | ---: |');
    // Polled apart from the table: the most bytes each replica held, and the snapshots it wrote.
    const most = cluster.addresses.map(() => 0);
    const snapshotNumbers = cluster.addresses.map(() => new Set());
    const observe = (states) =>
      states.forEach((s, i) => {
        most[i] = Math.max(most[i], s.storage.diskBytes);
        if (s.storage.lastSnapshot) snapshotNumbers[i].add(s.storage.lastSnapshot.number);
      });
    let polling = true;
    const poller = (async () => {
      while (polling) {
        observe(await Promise.all(cluster.addresses.map(debugState)).catch(() => []));
        await sleep(250);
      }
    })();
    const steps = 10;
    const started = Date.now();
    let done = 0;
    let failed = 0;
    const row = async () => {
      const states = await Promise.all(cluster.addresses.map(debugState));
      observe(states);
      const elapsed = (Date.now() - started) / 1000;
      console.log(
        `| ${done.toLocaleString('en')} | ${elapsed.toFixed(0)} | ${(done / elapsed).toFixed(0)} | ${states.map((s) => mib(s.storage.diskBytes)).join(' / ')} | ` +
          `${most.map(mib).join(' / ')} | ${snapshotNumbers.map((set) => set.size).join(' / ')} | ` +
          `${states.map((s) => s.storage.segments).join(' / ')} | ${states.map((s) => (s.storage.lastSnapshot ? (s.storage.lastSnapshot.bytes / 1024).toFixed(0) : '-')).join(' / ')} | ${states[0].liveKeys} |`,
      );
      return states;
    };
    for (let step = 1; step <= steps; step++) {
      const amount = Math.round((overwrites * step) / steps) - done;
      const result = await writeLoad(autocannon, cluster.addresses, { amount });
      done += result.requests.total;
      failed += result.non2xx + result.errors;
      await row();
    }
    const seconds = (Date.now() - started) / 1000;
    // Idle: let replication settle and a snapshot catch up, then the final figures, checked against the files.
    await sleep(3000);
    const states = await row();
    polling = false;
    await poller;
    console.log(`\n${done.toLocaleString('en')} writes in ${seconds.toFixed(0)} s (${(done / seconds).toFixed(0)}/s), ${failed} not 2xx or failed`);
    console.log(`at the end: describe() diskBytes ${states.map((s) => mib(s.storage.diskBytes)).join(' / ')} MiB; files in each DATA_DIR ${cluster.dirs.map((d) => mib(filesBytes(d))).join(' / ')} MiB (with meta.json and LOCK)`);
    const liveJson = states[0].liveKeys * 200; // about 200 bytes per key's winning event as JSON (3-entry clock, 32-byte value)
    console.log(`most bytes on disk at any poll: ${most.map(mib).join(' / ')} MiB; snapshots seen written: ${snapshotNumbers.map((set) => set.size).join(' / ')} (one per ~4 MiB of log)`);
    console.log(`the live state is ${states[0].liveKeys} keys (~${(liveJson / 1024).toFixed(0)} KiB as JSON); the disk stays under max(4 MiB, 2 x snapshot) of segments plus one snapshot, whatever the number of writes`);
  } finally {
    await stopCluster(cluster);
  }
}

async function main() {
  const { default: autocannon } = await import('autocannon');
  const { store } = await buildBenchBundles(log);
  if (repeat > 0) await throughput(autocannon, store);
  if (overwrites > 0) await diskFollowsKeys(autocannon, store);
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
