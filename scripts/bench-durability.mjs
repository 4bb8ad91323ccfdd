// What DATA_DIR costs, and whether the disk follows the live keys.
//
//   node scripts/bench-durability.mjs     (BENCH_WRITERS=16,48,96,192,384 BENCH_SECONDS=6 BENCH_REPEAT=3 BENCH_CONNECTIONS=48 BENCH_OVERWRITES=1000000)
//
// 1. Write throughput: the same 3-replica cluster (dist/kvs.mjs on 127.0.0.1, free ports) and the
//    same write load (autocannon, random keys of 1,000, every client carrying its causal metadata)
//    in memory (no DATA_DIR) and with DATA_DIR (FSYNC=batch, a temporary directory each), a fresh
//    cluster per run, interleaved in one run (the order alternates per repeat, so drift cancels
//    out), at each number of closed-loop writers in BENCH_WRITERS. Why a sweep: group commit makes
//    the cost of durability depend on the load. An fdatasync (and the push answers and wake-ups of
//    its group) costs the same whether it covers 3 writes or 30, and with few writers the latency
//    of two fdatasyncs in series (the replica's, then a peer's) bounds a closed loop; with more, the
//    groups grow and the cost per write falls. Each mode's capacity is the most writes/s it reaches
//    over the sweep (its peak), and "capacity with DATA_DIR / capacity in memory" is the figure the
//    0.7 target is read against; the ratio at each load is reported beside it, lowest loads first.
//    Per run: writes/s, latency p50/p99, the server CPU time per write (the three replicas
//    together, from /proc), their I/O system calls and context switches per write (/proc: on this
//    VM these, more than the bytes, are what an fdatasync group costs), and for the disk runs the fsyncs per write (group commit) and the fsync
//    latency from /debug/state (p50 and p99 as the upper bound of their histogram bucket, and the
//    mean). Per load: the medians, their ratio and the median of the ratios of each repeat's
//    back-to-back pair (on a shared machine the speed drifts between repeats; within a pair much less).
// 2. Disk after BENCH_OVERWRITES overwrites of 1,000 keys (DATA_DIR, FSYNC=batch, BENCH_CONNECTIONS
//    writers): each replica's bytes on disk (from /debug/state, checked against the files at the
//    end) every tenth of the writes, and the most seen at any poll (every 250 ms: a snapshot comes
//    every few MiB, so the tenths alone would alias a saw-tooth into a slope), and how many
//    snapshots were written. It must follow the live keys, not the writes: snapshots replace the
//    segments they cover.
// Not a test; it asserts nothing and prints tables. Every process it starts is stopped by PID
// (also on errors and SIGINT), and its temporary directories are removed.
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildBenchBundles } from './bench-bundles.mjs';
import { cpuMeter, freePort, kernelWorkMeter, linksUp, metadataCarryingClient, ServerProcesses } from './bench-processes.mjs';
import { median } from './bench-stats.mjs';

const seconds = Number(process.env.BENCH_SECONDS ?? 6);
const repeat = Number(process.env.BENCH_REPEAT ?? 3);
const writerCounts = (process.env.BENCH_WRITERS ?? '16,48,96,192,384').split(',').map(Number);
if (writerCounts.some((n) => !Number.isInteger(n) || n < 1)) throw new Error('BENCH_WRITERS is a list of positive integers, e.g. 16,48,96');
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
    // the sweep sets its own in options
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

/** One run: a fresh cluster in `mode`, warmed up, then `writers` closed-loop writers for `seconds`. */
async function throughputRun(autocannon, bundle, mode, writers) {
  const cluster = await startCluster(bundle, mode === 'disk');
  try {
    await writeLoad(autocannon, cluster.addresses, { duration: warmupSeconds, connections: writers });
    const fsyncs = async () => mergeFsyncs((await Promise.all(cluster.addresses.map(debugState))).map((s) => s.storage.fsyncs));
    const before = mode === 'disk' ? await fsyncs() : undefined;
    const pids = cluster.children.map((child) => child.pid);
    const cpuMs = cpuMeter(pids);
    const kernelWork = kernelWorkMeter(pids);
    const result = await writeLoad(autocannon, cluster.addresses, { duration: seconds, connections: writers });
    const kernel = kernelWork();
    const run = {
      rate: result.requests.total / result.duration,
      cpuPerWrite: (cpuMs() * 1000) / result.requests.total,
      syscallsPerWrite: kernel === null ? null : kernel.syscalls / result.requests.total,
      switchesPerWrite: kernel === null ? null : kernel.switches / result.requests.total,
      p50: result.latency.p50,
      p99: result.latency.p99,
      failed: result.non2xx + result.errors,
      fsync: undefined,
    };
    if (before !== undefined) {
      const after = await fsyncs();
      const window = { boundsMs: after.boundsMs, counts: after.counts.map((c, i) => c - before.counts[i]), count: after.count - before.count, sumMs: after.sumMs - before.sumMs };
      run.fsync = { perWrite: window.count / result.requests.total, p50: bucketQuantile(window, 0.5), p99: bucketQuantile(window, 0.99), meanMs: window.sumMs / window.count };
    }
    return run;
  } finally {
    await stopCluster(cluster);
  }
}

async function throughput(autocannon, bundle) {
  console.log(`\n## write throughput: 3 replicas, ${writerCounts.join(' / ')} writers, 1,000 keys, ${seconds} s per run, ${repeat} repeats per load (memory and DATA_DIR interleaved)\n`);
  console.log('| writers | repeat | mode | writes/s | p50 ms | p99 ms | failed | server CPU us/write | I/O syscalls/write | context switches/write | fsyncs/write | fsync p50 ms | fsync p99 ms | fsync mean ms |');
  console.log('| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  const loads = [];
  for (const writers of writerCounts) {
    const runs = { memory: [], disk: [] };
    const pairRatios = [];
    for (let r = 1; r <= repeat; r++) {
      const order = r % 2 === 1 ? ['memory', 'disk'] : ['disk', 'memory'];
      for (const mode of order) {
        const run = await throughputRun(autocannon, bundle, mode, writers);
        runs[mode].push(run);
        const f = run.fsync;
        const fsyncCells = f === undefined ? ['-', '-', '-', '-'] : [f.perWrite.toFixed(3), fmtMs(f.p50), fmtMs(f.p99), f.meanMs.toFixed(2)];
        console.log(
          `| ${writers} | ${r} | ${mode === 'disk' ? 'DATA_DIR, FSYNC=batch' : 'memory'} | ${run.rate.toFixed(0)} | ${run.p50} | ${run.p99} | ${run.failed} | ${run.cpuPerWrite.toFixed(0)} | ${run.syscallsPerWrite?.toFixed(2) ?? '-'} | ${run.switchesPerWrite?.toFixed(2) ?? '-'} | ${fsyncCells.join(' | ')} |`,
        );
      }
      pairRatios.push(runs.disk.at(-1).rate / runs.memory.at(-1).rate);
    }
    const of = (mode, field) => median(runs[mode].map((run) => run[field]));
    loads.push({
      writers,
      memory: of('memory', 'rate'),
      disk: of('disk', 'rate'),
      pairRatio: median(pairRatios),
      pairRatios,
      cpu: { memory: of('memory', 'cpuPerWrite'), disk: of('disk', 'cpuPerWrite') },
      p50: { memory: of('memory', 'p50'), disk: of('disk', 'p50') },
      fsyncsPerWrite: median(runs.disk.map((run) => run.fsync.perWrite)),
      fsyncP99: runs.disk.map((run) => run.fsync.p99),
    });
  }
  console.log('\n### per load (medians over the repeats)\n');
  console.log('| writers | memory writes/s | DATA_DIR writes/s | ratio of medians | pair ratios (median) | CPU us/write memory / DATA_DIR | p50 ms memory / DATA_DIR | fsyncs/write | fsync p99 ms per run |');
  console.log('| ---: | ---: | ---: | ---: | --- | --- | --- | ---: | --- |');
  for (const load of loads) {
    console.log(
      `| ${load.writers} | ${load.memory.toFixed(0)} | ${load.disk.toFixed(0)} | ${(load.disk / load.memory).toFixed(2)} | ${load.pairRatios.map((r) => r.toFixed(2)).join(', ')} (${load.pairRatio.toFixed(2)}) | ` +
        `${load.cpu.memory.toFixed(0)} / ${load.cpu.disk.toFixed(0)} | ${load.p50.memory} / ${load.p50.disk} | ${load.fsyncsPerWrite.toFixed(3)} | ${load.fsyncP99.map(fmtMs).join(', ')} |`,
    );
  }
  const peak = (mode) => loads.reduce((best, load) => (load[mode] > best[mode] ? load : best));
  const memoryPeak = peak('memory');
  const diskPeak = peak('disk');
  console.log(
    `\ncapacity (the most writes/s over the sweep, medians): memory ${memoryPeak.memory.toFixed(0)} at ${memoryPeak.writers} writers, ` +
      `DATA_DIR (FSYNC=batch) ${diskPeak.disk.toFixed(0)} at ${diskPeak.writers} writers; ratio ${(diskPeak.disk / memoryPeak.memory).toFixed(2)} (target >= 0.7)`,
  );
  // The peaks may come from loads measured minutes apart; the pairs at one load are seconds apart.
  console.log(`back-to-back pairs at ${diskPeak.writers} writers (where DATA_DIR peaks), disk/memory writes/s: median ${diskPeak.pairRatio.toFixed(2)}`);
  const highest = loads.at(-1);
  if (memoryPeak === highest || diskPeak === highest) console.log(`(a peak at the highest load, ${highest.writers} writers: a larger one may reach more; add it to BENCH_WRITERS)`);
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
