// One replica alone against the bare Koa baseline: what a request costs, without the cluster.
//
//   node scripts/bench-one-replica.mjs        (BENCH_SECONDS=6 BENCH_REPEAT=3 BENCH_CONNECTIONS=16)
//
// `npm run bench` compares a 3-replica cluster with a one-process baseline; on a 2-core machine
// the cluster's three processes and the load generator share the cores, so that ratio mixes the
// cost of our request handling with the cost of running three processes. This script isolates
// the first: the store runs as a single replica (VIEW = itself, so a write is acknowledged at once
// and nothing is replicated) and the baseline as usual, one at a time, with the same loads
// (reads, writes; 1,000 keys; clients that carry their causal metadata). It reports req/s and the
// server process's CPU time per request (from /proc), medians over interleaved repeats, and the
// ratios. Not a test; it asserts nothing. Every process it starts is stopped by PID.
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { buildBenchBundles } from './bench-bundles.mjs';

const seconds = Number(process.env.BENCH_SECONDS ?? 6);
const repeat = Number(process.env.BENCH_REPEAT ?? 3);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 16);
const keys = 1000;
const warmupSeconds = 2;
const ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
const started = new Set();

const log = (message) => console.error(`[one-replica] ${message}`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

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
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond;
}

async function startServer(bundle) {
  const address = `127.0.0.1:${await freePort()}`;
  const child = spawn(process.execPath, [bundle], {
    env: { PATH: process.env.PATH ?? '', SOCKET_ADDRESS: address, VIEW: address, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  started.add(child);
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`http://${address}/health`)).ok) return { address, child };
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`${bundle} did not answer /health at ${address}`);
}

async function stopServer({ child }) {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  process.kill(child.pid, 'SIGKILL');
  await exited;
  started.delete(child);
}

async function preload(address) {
  for (let i = 0; i < keys; i++) {
    const answer = await fetch(`http://${address}/kvs/k${i}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ value: 'v'.repeat(32), 'causal-metadata': null }) });
    await answer.arrayBuffer();
  }
}

/**
 * One load for `secondsLong`. Each connection carries the metadata its last answer gave it, in a
 * closure of its own (autocannon's per-request context is reset whenever a client loops).
 */
async function runLoad(autocannon, address, method, secondsLong) {
  const result = await autocannon({
    url: `http://${address}`,
    connections,
    duration: secondsLong,
    requests: [{ method: 'GET', path: '/health' }], // replaced per client in setupClient
    setupClient(client) {
      let metadata = null;
      client.setRequests([
        {
          method,
          setupRequest: (request) => ({
            ...request,
            path: `/kvs/k${Math.floor(Math.random() * keys)}`,
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(method === 'PUT' ? { value: 'x'.repeat(32), 'causal-metadata': metadata } : { 'causal-metadata': metadata }),
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
  return { requests: result.requests.total, perSecond: result.requests.total / result.duration, non2xx: result.non2xx };
}

async function main() {
  const { default: autocannon } = await import('autocannon');
  const bundles = await buildBenchBundles(log);
  const samples = { baseline: { GET: [], PUT: [] }, store: { GET: [], PUT: [] } };
  for (let r = 0; r < repeat; r++) {
    for (const target of ['baseline', 'store']) {
      const server = await startServer(bundles[target]);
      await preload(server.address);
      for (const method of ['GET', 'PUT']) {
        await runLoad(autocannon, server.address, method, warmupSeconds);
        const before = cpuMs(server.child.pid);
        const result = await runLoad(autocannon, server.address, method, seconds);
        const cpuPerRequestUs = ((cpuMs(server.child.pid) - before) * 1000) / result.requests;
        if (result.non2xx > 0) throw new Error(`${target} ${method}: ${result.non2xx} answers were not 2xx`);
        samples[target][method].push({ perSecond: result.perSecond, cpuPerRequestUs });
        log(`${target} ${method} (repeat ${r + 1}/${repeat}): ${result.perSecond.toFixed(0)} req/s, ${cpuPerRequestUs.toFixed(1)} us CPU per request`);
      }
      await stopServer(server);
    }
  }
  const row = (target, method) => ({
    perSecond: median(samples[target][method].map((s) => s.perSecond)),
    cpuUs: median(samples[target][method].map((s) => s.cpuPerRequestUs)),
  });
  console.log(`\n## one replica vs baseline: ${connections} connections, ${seconds} s per load, median of ${repeat}\n`);
  console.log('| load | baseline req/s | store req/s | store/baseline | baseline CPU us/req | store CPU us/req |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const [method, title] of [['GET', 'reads'], ['PUT', 'writes']]) {
    const base = row('baseline', method);
    const store = row('store', method);
    console.log(`| ${title} | ${base.perSecond.toFixed(0)} | ${store.perSecond.toFixed(0)} | ${(store.perSecond / base.perSecond).toFixed(2)} | ${base.cpuUs.toFixed(1)} | ${store.cpuUs.toFixed(1)} |`);
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
