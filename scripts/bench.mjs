// `npm run bench`: the store against a bare Koa baseline, measured in the same run (issue 5).
//
// HOW TO RUN
//   npm run bench                                   # defaults: ~2 minutes on a 2-core machine
//   BENCH_SECONDS=10 BENCH_CONNECTIONS=60 npm run bench
//   BENCH_LOADS=writes BENCH_CPU_PROF=1 npm run bench   # profile one replica (and the baseline) under writes
//
// WHAT IT DOES
//   1. Builds both bundles: dist/kvs.mjs (`node build.mjs`) and dist/bench-baseline.mjs (esbuild, the
//      same options as build.mjs, from scripts/bench-baseline.ts). The store bundle is snapshotted
//      into the run directory before it is started, so a concurrent rebuild cannot mix versions.
//   2. Starts the baseline (1 process) and 3 replicas of the store, all on 127.0.0.1 (free ports),
//      with plain `node`, and waits for /health (and, for the store, all links up).
//   3. Preloads 10,000 keys k0..k9999 into each (32-byte string values) and waits until the three
//      replicas hold the same clock.
//   4. For each load (reads only, writes only, 90/10 read/write mix; uniformly random keys of the
//      10,000): warm-up BENCH_WARMUP_SECONDS, then BENCH_SECONDS measured, baseline and store
//      interleaved, BENCH_REPEAT times (results are the median over repeats). BENCH_CONNECTIONS
//      clients (autocannon connections, pipelining 1); for the store they are spread evenly over the
//      3 replicas and each client stays on its replica. Every client carries its causal metadata:
//      it sends the latest "causal-metadata" it received (null only on its very first request) in
//      the JSON body of the next request. Client state lives in a closure per connection (set up in
//      autocannon's setupClient), not in autocannon's `context`, which is reset whenever a client
//      loops over its request list. The "carried" column counts requests sent with non-null metadata.
//   5. Replication lag, at half of the store's measured peak write throughput: a paced (open-loop,
//      evenly spaced) write load from this process plus a probe client in a worker thread. Method:
//      the probe PUTs at replica A with its metadata, and at the acknowledgement sends GET for that
//      key to both other replicas B and C with the metadata A returned. A replica that does not yet
//      hold the write parks the GET until the write is delivered (CAUSAL_WAIT_MS, default 1000,
//      event-driven, not polling) and then answers, so "ack at A -> answer from B" bounds the lag
//      from above by one GET round trip. Just before each write the probe also sends B and C a GET
//      whose metadata they already cover (no wait): lag = (ack -> answer) - median(plain GET) per
//      replica, clamped at 0. The table shows p50/p99 over all samples (one peer already holds the
//      write when A acknowledges it, so about half the samples are ~0) and p99 of the later of the
//      two replicas per write ("all"). A 503 there means a lag over CAUSAL_WAIT_MS. With
//      BENCH_REPEAT > 1 the lag is measured that many times: the table shows the run with the median
//      p99, followed by every run's p99.
//   6. Writes bench/results/<timestamp>.json and .md (git-ignored), prints the table, and stops every
//      process it started by PID (SIGTERM, then SIGKILL), also on errors and on SIGINT/SIGTERM.
//      Process logs (and CPU profiles) go to bench/results/<timestamp>/.
//
// READING THE TABLE
//   req/s: completed responses per second (all statuses). p50/p99/p999: latency in ms over all
//   responses of the load, measured by the load generator (send -> full response). store/baseline:
//   ratio of req/s (issue 5 targets: reads >= 0.9, writes >= 0.5): the median over repeats of each
//   repeat's store/baseline pair (run back to back), with their range. server CPU us/req: user+system
//   CPU time of the server processes (all three replicas for the store, from /proc) over the load,
//   per response: the cost of a request wherever it is paid. non-2xx: counts per status; 503
//   separately (target: 0 for clients that stay on one replica). meta B/req: mean bytes of causal
//   metadata JSON per request sent. carried: share of requests sent with non-null metadata.
//   The load generator runs on the same 2 cores as the servers: numbers are relative, compare the
//   ratio, not the absolute req/s, and expect noise when other work runs on the machine.
//
// ENVIRONMENT
//   BENCH_SECONDS (8)  BENCH_WARMUP_SECONDS (2)  BENCH_CONNECTIONS (48, rounded to a multiple of 3)  BENCH_REPEAT (1)
//   BENCH_LOADS (reads,writes,mix,lag)  BENCH_LAG_RATE (writes/s; default half the measured peak)
//   BENCH_CPU_PROF (1: run replica A and the baseline under node --cpu-prof; prints top self time;
//   the profile covers the whole process life, so pair it with BENCH_LOADS=writes for a write profile)
//   BENCH_SKIP_BUILD (1: use the existing dist/ bundles)   BENCH_KEYS (10000)
//   BENCH_NODE_ARGS (node command-line flags for every server started, baseline included, split on spaces:
//   e.g. --max-semi-space-size=4 or --trace-gc-nvp, which NODE_OPTIONS refuses)
//
// FILES
//   bench.mjs: this entry point (the steps above in order, the report files, stopping on errors
//   and signals, --profile). bench-settings.mjs: the environment above. bench-bundles.mjs: step 1.
//   bench-servers.mjs: step 2 (processes, readiness). bench-preload.mjs: step 3. bench-loads.mjs:
//   step 4 (autocannon), with bench-session.mjs (the metadata each client carries). bench-lag.mjs:
//   step 5, with bench-paced-writes.mjs and the worker bench-lag-probe.mjs. bench-report.mjs: the
//   table; bench-cpu-profile.mjs: BENCH_CPU_PROF. bench-stats.mjs (percentiles, median),
//   bench-http-json.mjs and bench-http-connection.mjs (clients), bench-processes.mjs (ports, CPU
//   time from /proc; shared with the smaller benchmarks).
//
//   node scripts/bench.mjs --profile <file.cpuprofile> [bundle it ran, default dist/kvs.mjs]
//   prints the CPU profile tables of an existing profile.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { snapshotBenchBundles } from './bench-bundles.mjs';
import { summarizeProfile } from './bench-cpu-profile.mjs';
import { measureReplicationLag } from './bench-lag.mjs';
import { loadTargets, measureLoad } from './bench-loads.mjs';
import { preloadServers } from './bench-preload.mjs';
import { markdown, profileMarkdown } from './bench-report.mjs';
import { childCount, killAllNow, startServers, stopAll } from './bench-servers.mjs';
import { KEYS, readSettings } from './bench-settings.mjs';
import { round } from './bench-stats.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));

function log(message) {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

function git(args) {
  try {
    return execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

async function main() {
  const settings = readSettings();
  const { seconds, warmupSeconds, connections, repeat, loads, cpuProf } = settings;

  const startedAt = new Date();
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  const resultsDir = path.join(root, 'bench/results');
  const runDir = path.join(resultsDir, stamp);
  mkdirSync(runDir, { recursive: true });

  const { default: autocannon } = await import('autocannon');
  const bundles = await snapshotBenchBundles(runDir, log);

  const config = {
    seconds,
    warmupSeconds,
    connections,
    repeat,
    keys: KEYS,
    loads,
    cpuProf,
    node: process.version,
    cpus: os.cpus().length,
    loadAverage: os.loadavg().map((v) => round(v, 2)),
    commit: git(['rev-parse', '--short', 'HEAD']),
    dirty: git(['status', '--porcelain', '--', 'src', 'events', 'build.mjs']) !== '',
    storeBundleSha256: bundles.storeSha,
    baselineBundleSha256: bundles.baselineSha,
  };
  log(`config ${JSON.stringify(config)}; logs in ${path.relative(root, runDir)}/`);

  const servers = await startServers(bundles, runDir, cpuProf);
  const { baselineAddress, storeAddresses, baselineProc, replicaProcs } = servers;
  log(`baseline ${baselineAddress} (pid ${baselineProc.child.pid}); store ${storeAddresses.join(', ')} (pids ${replicaProcs.map((r) => r.child.pid).join(', ')})`);

  log(`preloading ${KEYS} keys into the baseline and the store`);
  const preloaded = await preloadServers(servers);
  log(`preloaded: baseline ${preloaded.baselineSeconds.toFixed(1)} s, store ${preloaded.storeSeconds.toFixed(1)} s (retried statuses ${JSON.stringify(preloaded.storeFailures)})`);

  const targets = loadTargets(servers, connections);

  const report = { startedAt: startedAt.toISOString(), config, addresses: { baseline: baselineAddress, store: storeAddresses }, preload: { baselineSeconds: round(preloaded.baselineSeconds), storeSeconds: round(preloaded.storeSeconds), storeRetriedStatuses: preloaded.storeFailures }, loads: [], lag: null, total503: 0, profiles: [] };

  for (const loadName of loads.filter((l) => l !== 'lag')) report.loads.push(await measureLoad(autocannon, targets, loadName, settings, log));

  if (loads.includes('lag')) {
    const measuredPeak = report.loads.find((l) => l.load === 'writes')?.store.throughput;
    report.lag = await measureReplicationLag(targets.store, measuredPeak, settings, log);
  }

  report.total503 =
    report.loads.reduce((n, l) => n + l.store.count503 + l.baseline.count503, 0) + (report.lag ? report.lag.runs.reduce((n, run) => n + run.load.count503 + run.summary.probe503, 0) : 0);
  return { report, runDir, resultsDir, stamp, bundles };
}

async function finish({ report, runDir, resultsDir, stamp, bundles }) {
  if (report.config.cpuProf) {
    for (const [name, bundle] of [
      ['replica-A', bundles.store],
      ['baseline', bundles.baseline],
    ]) {
      const file = path.join(runDir, `${name}.cpuprofile`);
      if (existsSync(file)) report.profiles.push({ name, ...summarizeProfile(file, bundle) });
      else log(`no CPU profile at ${file} (files: ${readdirSync(runDir).join(', ')})`);
    }
  }
  const md = markdown(report);
  writeFileSync(path.join(resultsDir, `${stamp}.json`), JSON.stringify(report, null, 2) + '\n');
  writeFileSync(path.join(resultsDir, `${stamp}.md`), md);
  process.stdout.write('\n' + md);
  log(`wrote ${path.relative(root, path.join(resultsDir, `${stamp}.json`))} and .md`);
}

if (process.argv[2] === '--profile') {
  // node scripts/bench.mjs --profile <file.cpuprofile> [bundle it ran, default dist/kvs.mjs]
  const file = process.argv[3];
  if (file === undefined) throw new Error('usage: node scripts/bench.mjs --profile <file.cpuprofile> [bundle]');
  const prof = summarizeProfile(file, process.argv[4] ?? path.join(root, 'dist/kvs.mjs'));
  process.stdout.write(profileMarkdown({ name: path.basename(file), ...prof }).join('\n') + '\n');
} else {
  process.on('exit', killAllNow);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => {
      log(`${signal}: stopping ${childCount()} process(es) by PID`);
      killAllNow();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  }
  let outcome;
  try {
    outcome = await main();
  } catch (error) {
    log(`failed: ${error?.stack ?? error}`);
    process.exitCode = 1;
  } finally {
    // Stop the servers before summarizing: --cpu-prof writes its profile at exit.
    await stopAll();
  }
  if (outcome) await finish(outcome);
}
