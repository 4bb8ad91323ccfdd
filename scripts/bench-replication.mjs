// What replication costs: a 3-replica cluster under a write load, and where the CPU goes.
//
//   node scripts/bench-replication.mjs      (BENCH_SECONDS=6 BENCH_REPEAT=2 BENCH_CONNECTIONS=48 BENCH_ONE_ORIGIN=0)
//
// `npm run bench` gives req/s ratios against a baseline; this script explains the write column. It
// starts three replicas from dist/kvs.mjs on 127.0.0.1 (free ports), runs autocannon writes (random
// keys of 10,000; every client carries its causal metadata), and reports per repeat, from /proc and
// each replica's /metrics:
//   - CPU time per write of each replica and of the load generator (this process), and their
//     ratio, which stays comparable when the machine's speed drifts between runs;
//   - pushes per write and events per push (how well replication batches), events pushed per write;
//   - young-generation GC pauses (count and mean).
// BENCH_ONE_ORIGIN=1 sends every write to the first replica, so the other two only receive: their
// CPU per write is the cost of receiving one event. Not a test; it asserts nothing. Every process
// it starts is stopped by PID, also on errors and on SIGINT.
import { buildBenchBundles } from './bench-bundles.mjs';
import { metadataCarryingClient, processCpuMs, ServerProcesses } from './bench-processes.mjs';

const seconds = Number(process.env.BENCH_SECONDS ?? 6);
const repeat = Number(process.env.BENCH_REPEAT ?? 2);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 48);
const oneOrigin = process.env.BENCH_ONE_ORIGIN === '1';
const keys = 10_000;
const servers = new ServerProcesses();

const log = (message) => console.error(`[replication] ${message}`);

async function metric(address, pattern) {
  const text = await (await fetch(`http://${address}/metrics`)).text();
  const match = pattern.exec(text);
  return match === null ? Number.NaN : Number(match[1]);
}

async function counters(address) {
  return {
    pushes: await metric(address, /^kvs_pushes_total (\S+)$/m),
    events: await metric(address, /^kvs_events_pushed_total (\S+)$/m),
    gcCount: await metric(address, /^nodejs_gc_duration_seconds_count\{kind="minor"\} (\S+)$/m),
    gcSeconds: await metric(address, /^nodejs_gc_duration_seconds_sum\{kind="minor"\} (\S+)$/m),
  };
}

function writeLoad(autocannon, addresses, secondsLong) {
  return autocannon({
    url: (oneOrigin ? addresses.slice(0, 1) : addresses).map((address) => `http://${address}`),
    connections,
    duration: secondsLong,
    requests: [{ method: 'GET', path: '/health' }], // replaced per client in setupClient
    setupClient: metadataCarryingClient('PUT', keys),
  });
}

async function main() {
  const { default: autocannon } = await import('autocannon');
  const { store } = await buildBenchBundles(log);
  console.log(`\n## replication cost: 3 replicas, ${connections} writers${oneOrigin ? ', all at the first replica' : ''}, ${seconds} s per repeat\n`);
  console.log('| repeat | writes/s | non-2xx | replica CPU us/write (each) | load generator us/write | replicas / generator | pushes/write | events/push | events pushed/write | minor GCs (mean ms) |');
  console.log('| ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |');
  for (let r = 1; r <= repeat; r++) {
    const cluster = await servers.startCluster(store, 3);
    await writeLoad(autocannon, cluster.addresses, 2); // warm-up
    const cpuBefore = cluster.children.map((child) => processCpuMs(child.pid));
    const before = await Promise.all(cluster.addresses.map(counters));
    const selfBefore = process.cpuUsage();
    const result = await writeLoad(autocannon, cluster.addresses, seconds);
    const self = process.cpuUsage(selfBefore);
    const after = await Promise.all(cluster.addresses.map(counters));
    const cpu = cluster.children.map((child, i) => processCpuMs(child.pid) - cpuBefore[i]);
    for (const child of cluster.children) await servers.stop(child);
    const writes = result.requests.total;
    const perWrite = cpu.map((ms) => (ms * 1000) / writes);
    const total = perWrite.reduce((sum, us) => sum + us, 0);
    const generator = (self.user + self.system) / writes;
    const delta = (field) => after.reduce((sum, c, i) => sum + c[field] - before[i][field], 0);
    const pushes = delta('pushes');
    const events = delta('events');
    const gcs = delta('gcCount');
    console.log(
      `| ${r} | ${(writes / result.duration).toFixed(0)} | ${result.non2xx} | ${total.toFixed(0)} (${perWrite.map((us) => us.toFixed(0)).join(' / ')}) | ` +
        `${generator.toFixed(0)} | ${(total / generator).toFixed(2)} | ${(pushes / writes).toFixed(3)} | ${(events / pushes).toFixed(1)} | ` +
        `${(events / writes).toFixed(2)} | ${gcs} (${((delta('gcSeconds') * 1000) / gcs).toFixed(1)}) |`,
    );
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
