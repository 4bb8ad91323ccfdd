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
import { buildBenchBundles } from './bench-bundles.mjs';
import { freePort, metadataCarryingClient, processCpuMs, ServerProcesses } from './bench-processes.mjs';

const seconds = Number(process.env.BENCH_SECONDS ?? 6);
const repeat = Number(process.env.BENCH_REPEAT ?? 3);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 16);
const keys = 1000;
const warmupSeconds = 2;
const servers = new ServerProcesses();

const log = (message) => console.error(`[one-replica] ${message}`);
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function startServer(bundle) {
  const address = `127.0.0.1:${await freePort()}`;
  return { address, child: await servers.start(bundle, address, { SOCKET_ADDRESS: address, VIEW: address }) };
}

async function preload(address) {
  for (let i = 0; i < keys; i++) {
    const answer = await fetch(`http://${address}/kvs/k${i}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ value: 'v'.repeat(32), 'causal-metadata': null }) });
    await answer.arrayBuffer();
  }
}

/** One load for `secondsLong`, every client carrying its causal metadata. */
async function runLoad(autocannon, address, method, secondsLong) {
  const result = await autocannon({
    url: `http://${address}`,
    connections,
    duration: secondsLong,
    requests: [{ method: 'GET', path: '/health' }], // replaced per client in setupClient
    setupClient: metadataCarryingClient(method, keys),
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
        const before = processCpuMs(server.child.pid);
        const result = await runLoad(autocannon, server.address, method, seconds);
        const cpuPerRequestUs = ((processCpuMs(server.child.pid) - before) * 1000) / result.requests;
        if (result.non2xx > 0) throw new Error(`${target} ${method}: ${result.non2xx} answers were not 2xx`);
        samples[target][method].push({ perSecond: result.perSecond, cpuPerRequestUs });
        log(`${target} ${method} (repeat ${r + 1}/${repeat}): ${result.perSecond.toFixed(0)} req/s, ${cpuPerRequestUs.toFixed(1)} us CPU per request`);
      }
      await servers.stop(server.child);
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
