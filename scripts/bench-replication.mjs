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
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { buildBenchBundles } from './bench-bundles.mjs';

const seconds = Number(process.env.BENCH_SECONDS ?? 6);
const repeat = Number(process.env.BENCH_REPEAT ?? 2);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 48);
const oneOrigin = process.env.BENCH_ONE_ORIGIN === '1';
const keys = 10_000;
const ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
const started = new Set();

const log = (message) => console.error(`[replication] ${message}`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function stopAll() {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
}
process.on('exit', stopAll);
process.on('SIGINT', () => process.exit(130));

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** User plus system CPU time of a process so far, in ms. */
function cpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond;
}

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

async function startCluster(bundle) {
  const addresses = [];
  for (let i = 0; i < 3; i++) addresses.push(`127.0.0.1:${await freePort()}`);
  const children = addresses.map((address) => {
    const child = spawn(process.execPath, [bundle], {
      env: { PATH: process.env.PATH ?? '', SOCKET_ADDRESS: address, VIEW: addresses.join(','), LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    started.add(child);
    return child;
  });
  for (const address of addresses) {
    for (let i = 0; ; i++) {
      try {
        if ((await fetch(`http://${address}/health`)).ok) break;
      } catch {
        // not listening yet
      }
      if (i >= 100) throw new Error(`${address} did not answer /health`);
      await sleep(100);
    }
  }
  await sleep(1500); // links up, first probes answered
  return { addresses, children };
}

async function stopCluster({ children }) {
  for (const child of children) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    process.kill(child.pid, 'SIGKILL');
    await exited;
    started.delete(child);
  }
}

function writeLoad(autocannon, addresses, secondsLong) {
  return autocannon({
    url: (oneOrigin ? addresses.slice(0, 1) : addresses).map((address) => `http://${address}`),
    connections,
    duration: secondsLong,
    requests: [{ method: 'GET', path: '/health' }], // replaced per client in setupClient
    setupClient(client) {
      let metadata = null;
      client.setRequests([
        {
          method: 'PUT',
          setupRequest: (request) => ({
            ...request,
            path: `/kvs/k${Math.floor(Math.random() * keys)}`,
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ value: 'x'.repeat(32), 'causal-metadata': metadata }),
          }),
          onResponse: (_status, body) => {
            try {
              metadata = JSON.parse(body)['causal-metadata'] ?? metadata;
            } catch {
              // keep the metadata it had
            }
          },
        },
      ]);
    },
  });
}

async function main() {
  const { default: autocannon } = await import('autocannon');
  const { store } = await buildBenchBundles(log);
  console.log(`\n## replication cost: 3 replicas, ${connections} writers${oneOrigin ? ', all at the first replica' : ''}, ${seconds} s per repeat\n`);
  console.log('| repeat | writes/s | non-2xx | replica CPU us/write (each) | load generator us/write | replicas / generator | pushes/write | events/push | events pushed/write | minor GCs (mean ms) |');
  console.log('| ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |');
  for (let r = 1; r <= repeat; r++) {
    const cluster = await startCluster(store);
    await writeLoad(autocannon, cluster.addresses, 2); // warm-up
    const cpuBefore = cluster.children.map((child) => cpuMs(child.pid));
    const before = await Promise.all(cluster.addresses.map(counters));
    const selfBefore = process.cpuUsage();
    const result = await writeLoad(autocannon, cluster.addresses, seconds);
    const self = process.cpuUsage(selfBefore);
    const after = await Promise.all(cluster.addresses.map(counters));
    const cpu = cluster.children.map((child, i) => cpuMs(child.pid) - cpuBefore[i]);
    await stopCluster(cluster);
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
