// What sharding buys (issue 17): three layouts of dist/kvs.mjs measured in one run.
//
//   node scripts/bench-sharding.mjs     (BENCH_REPEAT=3 BENCH_SECONDS=5 BENCH_CONNECTIONS=48 BENCH_MEM_KEYS=100000)
//
// About 5 minutes on this 2-core machine when it is quiet, 7-8 when other work loads it (the
// memory loads, 3 x 10^5 writes, take 2 of them); BENCH_LAYOUTS=2x3,2x3-direct,1x6,3 adds a
// minute, and BENCH_REPEAT=5 with it takes about 8.5 minutes.
//
// LAYOUTS, each a fresh cluster on loopback 127.0.60.x (a port of its own per cluster, from BENCH_PORT):
//   2x3: 6 nodes, SHARD_COUNT=2 (two shards of three replicas)
//   1x6: 6 nodes, SHARD_COUNT=1 (one shard of six replicas)
//   3:   3 replicas, no SHARD_COUNT (the baseline every ratio is taken against)
//   2x3-direct (only when BENCH_LAYOUTS names it): 2x3 with every client writing only keys of its
//        node's shard, so nothing is forwarded: what forwarding costs, by difference with 2x3
//
// WHAT IT MEASURES
//   1. Writes (BENCH_REPEAT times per layout, the layouts' order rotated per repeat, a fresh cluster
//      each time): once every node sees its group's peers up, the CPU the idle cluster uses over
//      BENCH_IDLE_SECONDS (probes, gossip: it counts in the CPU per write too), then a closed-loop
//      write load (autocannon, BENCH_CONNECTIONS keep-alive clients spread round-robin over all
//      nodes, each staying on its node and chaining its own causal metadata, uniformly random keys
//      of BENCH_KEYS, 32-byte values), BENCH_WARMUP_SECONDS of warm-up, a second's pause (for the
//      warm-up's last requests, which autocannon drops, to finish at the nodes), then BENCH_SECONDS measured.
//      writes/s: 2xx answers per second. Cluster CPU per write: user+system CPU of every node
//      process (from /proc) over the measured interval, divided by the writes acknowledged (2xx);
//      "above idle": the same less the idle cluster's CPU rate over that interval (at a few hundred
//      writes/s the probes of a 6-node group are a large part of it).
//      Forwarded: requests forwarded to another shard (kvs_forwarded_request_seconds, all nodes),
//      per write, and their mean time at the forwarding node. I/O system calls (reads and writes
//      of sockets and files) and context switches of every node process per write, from /proc:
//      where a system call or a wake-up is dear (this VM), they are most of the CPU per write, and
//      they show what forwarding adds (a forwarded request is a write and a read at two nodes,
//      batched only with requests that arrive together) against what a smaller group saves.
//      Then, on the same cluster, as many clients at BENCH_PACED_RATE writes/s in all, evenly
//      spaced (open loop, bench-paced-writes.mjs), for BENCH_SECONDS: the same figures at the
//      same offered load for every layout, with the write latency p50/p99 at the client. The
//      closed loop runs each layout at its own saturation, where a layout that carries more
//      writes at once batches more of them per system call; paced, each layout carries the same
//      writes, and the CPU per write compares what a write costs in each. Every CPU ratio is also
//      given against 1x6 (what sharding saves on the same 6 nodes).
//   2. Forwarding (2x3 only, each repeat, on the same cluster once the write load has stopped):
//      one client writes BENCH_PROBE_KEYS keys at a member of their shard, then sends BENCH_GETS
//      GETs of them to a random member of the key's shard (local) and as many to a random node of
//      the other shard (forwarded), alternating, one at a time, each on a keep-alive connection per
//      node, carrying its metadata. p50/p99 per kind; every answer's "shard-id" is checked. The
//      key's shard comes from events/shard-map.ts (checked against /shard/members at start).
//   3. Memory (BENCH_MEM_REPEAT times per layout, default once: each load is 10^5 writes): a fresh
//      cluster under node --expose-gc; BENCH_MEM_KEYS distinct keys with BENCH_VALUE_BYTES-byte
//      values, each written at a member of its shard (BENCH_MEM_CONCURRENCY clients, no forwarding:
//      this part measures what is held, not the request path), then a wait until every node holds
//      all its shard's keys with nothing pending and its log compacted (bounded), then POST
//      /debug/gc twice and each node's rss and heapUsed from /debug/state. The same, read right
//      after the start (empty), gives the heap per key held.
//   Ratios: layout / baseline (3 unsharded). For writes, the median over repeats of each repeat's
//   ratio (the runs of one repeat follow each other within a minute; the machine drifts less
//   there), with their range; figures are medians over repeats (memory: over the nodes).
//
// ENVIRONMENT
//   BENCH_REPEAT (3)  BENCH_SECONDS (5)  BENCH_WARMUP_SECONDS (2)  BENCH_IDLE_SECONDS (2)  BENCH_CONNECTIONS (48)
//   BENCH_KEYS (10000)  BENCH_GETS (1000 per kind)  BENCH_PROBE_KEYS (200)  BENCH_MEM_KEYS (100000)
//   BENCH_MEM_REPEAT (1)  BENCH_MEM_CONCURRENCY (48)  BENCH_VALUE_BYTES (100)  BENCH_PORT (18600)
//   BENCH_PACED_RATE (300: below every layout's closed-loop writes/s here, or the pacing measures saturation again)
//   BENCH_LAYOUTS (2x3,1x6,3; also 2x3-direct; ratios need 3)  BENCH_SKIP_BUILD (1: use dist/ as it is)
//
// The load generator shares the machine's cores with the nodes, and on a shared machine other
// work does too: compare the ratios of one run, not absolute figures across runs. Not a test; it
// asserts nothing. Every process it starts is stopped by PID, also on errors and on SIGINT.
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { tsImport } from 'tsx/esm/api';
import { buildBenchBundles } from './bench-bundles.mjs';
import { KeepAliveConnection } from './bench-http-connection.mjs';
import { pacedWrites } from './bench-paced-writes.mjs';
import { newSession } from './bench-session.mjs';
import { cpuMeter, kernelWorkMeter, metadataCarryingClient, ServerProcesses } from './bench-processes.mjs';
import { KEYS, intEnv } from './bench-settings.mjs';
import { median, percentiles, round } from './bench-stats.mjs';
import { fmt } from './bench-report.mjs';

const { initialShardMap, shardOfKey } = await tsImport('../events/shard-map.ts', import.meta.url);

/** The settings, from the environment (a positive number each; the header lists them). */
const { repeat, seconds, warmupSeconds, idleSeconds, connections, gets, probeKeys, memKeys, memRepeat, memConcurrency, valueBytes, basePort, pacedRate } = Object.fromEntries(
  Object.entries({
    repeat: ['BENCH_REPEAT', 3],
    seconds: ['BENCH_SECONDS', 5],
    warmupSeconds: ['BENCH_WARMUP_SECONDS', 2],
    idleSeconds: ['BENCH_IDLE_SECONDS', 2],
    connections: ['BENCH_CONNECTIONS', 48],
    gets: ['BENCH_GETS', 1000],
    probeKeys: ['BENCH_PROBE_KEYS', 200],
    memKeys: ['BENCH_MEM_KEYS', 100_000],
    memRepeat: ['BENCH_MEM_REPEAT', 1],
    memConcurrency: ['BENCH_MEM_CONCURRENCY', 48],
    valueBytes: ['BENCH_VALUE_BYTES', 100],
    basePort: ['BENCH_PORT', 18_600],
    pacedRate: ['BENCH_PACED_RATE', 300],
  }).map(([setting, [variable, fallback]]) => [setting, intEnv(variable, fallback)]),
);

const LAYOUTS = {
  '2x3': { name: '2x3', title: '2 shards x 3 (SHARD_COUNT=2)', nodes: 6, shards: 2 },
  // Not run by default: 2x3 with every write sent to a member of its key's shard, to tell forwarding's cost apart.
  '2x3-direct': { name: '2x3-direct', title: '2 shards x 3, no forwarding (clients write their node\'s shard only)', nodes: 6, shards: 2, direct: true },
  '1x6': { name: '1x6', title: '1 shard x 6 (SHARD_COUNT=1)', nodes: 6, shards: 1 },
  3: { name: '3', title: '3 unsharded replicas', nodes: 3, shards: undefined },
};
const BASELINE = '3';
const layoutNames = (process.env.BENCH_LAYOUTS ?? '2x3,1x6,3').split(',').map((s) => s.trim());
for (const name of layoutNames) if (!(name in LAYOUTS)) throw new Error(`BENCH_LAYOUTS: unknown layout ${JSON.stringify(name)} (${Object.keys(LAYOUTS).join(', ')})`);

const servers = new ServerProcesses();
const log = (message) => console.error(`[sharding ${new Date().toISOString().slice(11, 19)}] ${message}`);
const mib = (bytes) => bytes / 2 ** 20;
/** Bounded polling: `check` every 200 ms until it holds, for at most `timeoutMs`; returns whether it held. */
async function pollUntil(check, timeoutMs) {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await sleep(200)) if (await check()) return true;
  return false;
}

async function getJson(address, path, init) {
  const answer = await fetch(`http://${address}${path}`, init);
  if (!answer.ok) throw new Error(`${init?.method ?? 'GET'} ${address}${path}: ${answer.status}`);
  return answer.json();
}

let clusterCount = 0;

/**
 * A fresh cluster of `layout` on 127.0.60.1.. (the next port), ready: every node sees its group
 * up. Its shard map is computed here and checked against the nodes' (`shardOf(key)`, `members`).
 */
async function startLayout(bundle, layout, nodeArgs = []) {
  const port = basePort + clusterCount++;
  const addresses = Array.from({ length: layout.nodes }, (_, i) => `127.0.60.${i + 1}:${port}`);
  const env = layout.shards === undefined ? {} : { SHARD_COUNT: String(layout.shards) };
  const groupSize = layout.nodes / (layout.shards ?? 1);
  const { children } = await servers.startCluster(bundle, layout.nodes, { addresses, env, nodeArgs, groupSize });
  const cluster = { layout, addresses, children, pids: children.map((child) => child.pid) };
  if (layout.shards === undefined) {
    cluster.shardOf = () => 0;
    cluster.members = new Map([[0, addresses]]);
  } else {
    const map = initialShardMap(addresses, layout.shards);
    cluster.shardOf = (key) => shardOfKey(map, key);
    cluster.members = new Map(map.shards.map((shard) => [shard.id, [...shard.members]]));
    for (const [id, members] of cluster.members) {
      const served = (await getJson(addresses[0], `/shard/members/${id}`))['shard-members'];
      if (JSON.stringify([...served].sort()) !== JSON.stringify([...members].sort())) throw new Error(`shard ${id}: the nodes say ${served}, events/shard-map.ts says ${members}`);
    }
  }
  cluster.shardOfNode = new Map([...cluster.members].flatMap(([id, members]) => members.map((member) => [member, id])));
  if (layout.direct) {
    // 2x3-direct: a client writes only the keys of the shard of the node it talks to.
    const shardKeys = new Map([...cluster.members.keys()].map((id) => [id, []]));
    for (let i = 0; i < KEYS; i++) shardKeys.get(cluster.shardOf(`k${i}`)).push(`k${i}`);
    cluster.ownKeys = (address) => shardKeys.get(cluster.shardOfNode.get(address));
  }
  return cluster;
}

async function stopLayout(cluster) {
  for (const child of cluster.children) await servers.stop(child);
}

/** Forwarded requests answered so far, and their seconds, summed over the cluster (/metrics). */
async function forwardedSoFar(addresses) {
  let count = 0;
  let secondsSum = 0;
  for (const address of addresses) {
    const text = await (await fetch(`http://${address}/metrics`)).text();
    count += Number(/^kvs_forwarded_request_seconds_count\{result="answered"\} (\S+)$/m.exec(text)?.[1] ?? 0);
    secondsSum += Number(/^kvs_forwarded_request_seconds_sum\{result="answered"\} (\S+)$/m.exec(text)?.[1] ?? 0);
  }
  return { count, secondsSum };
}

/** Closed-loop writes for `duration` seconds: each client sends its next write on the answer. */
function writeLoad(autocannon, cluster, duration) {
  return autocannon({
    url: cluster.addresses.map((address) => `http://${address}`),
    connections,
    duration,
    timeout: 10,
    requests: [{ method: 'GET', path: '/health' }], // replaced per client in setupClient
    setupClient: metadataCarryingClient('PUT', KEYS, cluster.ownKeys === undefined ? undefined : (client) => cluster.ownKeys(`${client.opts.hostname}:${client.opts.port}`)),
  });
}

/**
 * Writes at `rate` per second for `duration` seconds, evenly spaced (open loop), from as many
 * clients as the closed loop has, spread round-robin over the nodes, each chaining its metadata.
 * (Not autocannon's overallRate: it lets each client send its share of a second back to back at
 * the second's start, a burst at saturation every second.)
 */
async function pacedLoad(cluster, duration, rate) {
  const sessions = Array.from({ length: connections }, (_, i) => newSession(i, cluster.addresses[i % cluster.addresses.length]));
  const keyFor =
    cluster.ownKeys === undefined
      ? undefined
      : (session) => {
          const own = cluster.ownKeys(session.replica);
          return own[Math.floor(Math.random() * own.length)];
        };
  const result = await pacedWrites(sessions, rate, duration, keyFor);
  // The shape of autocannon's result, as measureInterval reads it.
  const counts = { '2xx': 0, non2xx: 0, errors: result.skippedNoIdleClient };
  for (const [status, count] of Object.entries(result.statuses)) counts[status === 'error' ? 'errors' : status.startsWith('2') ? '2xx' : 'non2xx'] += count;
  return { ...counts, duration, latency: { p50: result.p50Ms, p99: result.p99Ms }, timeouts: 0 };
}

/**
 * Part 1 on a ready cluster: idle CPU, then the measured write loads: closed-loop (as fast as the
 * layout goes), then paced at `pacedRate` writes/s (the same offered load for every layout).
 */
async function measureWrites(autocannon, cluster) {
  await sleep(1000); // the start's own work (JIT, the join) is not the idle cluster's
  const idle = cpuMeter(cluster.pids);
  await sleep(idleSeconds * 1000);
  const idleCores = idle() / (idleSeconds * 1000);
  await writeLoad(autocannon, cluster, warmupSeconds);
  await sleep(1000); // the warm-up's last requests, dropped by autocannon, finish at the nodes outside the measured interval
  const closed = await measureInterval(autocannon, cluster, idleCores, undefined);
  await sleep(1000); // as above: the closed loop's last requests finish before the paced interval starts
  const paced = await measureInterval(autocannon, cluster, idleCores, pacedRate);
  return { ...closed, paced };
}

/** One measured interval of BENCH_SECONDS of writes (closed-loop, or at `rate` writes/s): what the cluster spent per write. */
async function measureInterval(autocannon, cluster, idleCores, rate) {
  const forwardedBefore = await forwardedSoFar(cluster.addresses);
  const cpu = cpuMeter(cluster.pids);
  const kernelWork = kernelWorkMeter(cluster.pids);
  const started = performance.now();
  const result = rate === undefined ? await writeLoad(autocannon, cluster, seconds) : await pacedLoad(cluster, seconds, rate);
  const cpuMs = cpu();
  const kernel = kernelWork();
  const wallMs = performance.now() - started;
  const forwardedAfter = await forwardedSoFar(cluster.addresses);
  const writes = result['2xx'];
  const forwarded = forwardedAfter.count - forwardedBefore.count;
  return {
    writesPerSecond: writes / result.duration,
    cpuUsPerWrite: cpuMs === null || writes === 0 ? null : (cpuMs * 1000) / writes,
    busyCpuUsPerWrite: cpuMs === null || writes === 0 ? null : ((cpuMs - idleCores * wallMs) * 1000) / writes,
    idleCores,
    forwardedPerWrite: writes === 0 ? null : forwarded / writes,
    syscallsPerWrite: kernel === null || writes === 0 ? null : kernel.syscalls / writes,
    switchesPerWrite: kernel === null || writes === 0 ? null : kernel.switches / writes,
    forwardMs: forwarded === 0 ? null : ((forwardedAfter.secondsSum - forwardedBefore.secondsSum) * 1000) / forwarded,
    latencyP50Ms: result.latency.p50,
    latencyP99Ms: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
}

/** A PUT or GET with `session`'s metadata on `connection`; the answer's metadata becomes the session's. */
async function send(connection, method, key, session, value) {
  const body = JSON.stringify(value === undefined ? { 'causal-metadata': session.meta } : { value, 'causal-metadata': session.meta });
  const answer = await connection.request(method, `/kvs/${encodeURIComponent(key)}`, body);
  if (answer.body?.['causal-metadata'] !== undefined) session.meta = answer.body['causal-metadata'];
  return answer;
}

const pick = (list) => list[Math.floor(Math.random() * list.length)];

/** Part 2 (a sharded cluster): GET latency at a member of the key's shard vs at a node of another shard. */
async function measureForwarding(cluster) {
  const byNode = new Map(cluster.addresses.map((address) => [address, new KeepAliveConnection(address)]));
  const session = { meta: null };
  const keys = Array.from({ length: probeKeys }, (_, i) => `probe${i}`);
  try {
    for (const key of keys) {
      const answer = await send(byNode.get(cluster.members.get(cluster.shardOf(key))[0]), 'PUT', key, session, 'p'.repeat(valueBytes));
      if (answer.status !== 200 && answer.status !== 201) throw new Error(`PUT ${key}: ${answer.status} ${JSON.stringify(answer.body)}`);
    }
    const samples = { local: [], forwarded: [] };
    let unexpected = 0;
    for (let i = 0; i < gets; i++) {
      const key = keys[i % keys.length];
      const shard = cluster.shardOf(key);
      const kinds = i % 2 === 0 ? ['local', 'forwarded'] : ['forwarded', 'local'];
      for (const kind of kinds) {
        const target = kind === 'local' ? pick(cluster.members.get(shard)) : pick(cluster.addresses.filter((a) => cluster.shardOfNode.get(a) !== shard));
        const answer = await send(byNode.get(target), 'GET', key, session);
        if (answer.status !== 200 || answer.body?.['shard-id'] !== shard) unexpected++;
        samples[kind].push(answer.ms);
      }
    }
    const summary = (ms) => {
      const [p50, p99] = percentiles(ms, [0.5, 0.99]);
      return { p50, p99 };
    };
    return { local: summary(samples.local), forwarded: summary(samples.forwarded), unexpected };
  } finally {
    for (const connection of byNode.values()) connection.close();
  }
}

/** Part 3 on a fresh cluster started under --expose-gc: memory empty, then after `memKeys` keys. */
async function measureMemory(cluster) {
  const readMemory = async () => {
    const out = [];
    for (const address of cluster.addresses) {
      await getJson(address, '/debug/gc', { method: 'POST' });
      await getJson(address, '/debug/gc', { method: 'POST' });
      const state = await getJson(address, '/debug/state');
      out.push({ address, liveKeys: state.liveKeys, logLength: state.logLength, rss: state.memory.rssBytes, heapUsed: state.memory.heapUsedBytes });
    }
    return out;
  };
  const empty = await readMemory();
  // Each shard's keys, written at its members: one queue per shard, each client on one node.
  const queues = new Map([...cluster.members.keys()].map((id) => [id, []]));
  for (let i = 0; i < memKeys; i++) queues.get(cluster.shardOf(`m${i}`)).push(i);
  const expected = new Map([...queues].map(([id, queue]) => [id, queue.length]));
  const started = performance.now();
  let retried = 0;
  await Promise.all(
    Array.from({ length: memConcurrency }, async (_, w) => {
      const address = cluster.addresses[w % cluster.addresses.length];
      const queue = queues.get(cluster.shardOfNode.get(address));
      const connection = new KeepAliveConnection(address);
      const session = { meta: null };
      try {
        while (queue.length > 0) {
          const i = queue.pop();
          for (let attempt = 0; ; attempt++) {
            const answer = await send(connection, 'PUT', `m${i}`, session, `v${String(i).padStart(valueBytes - 1, '0')}`).catch((error) => ({ status: 0, body: String(error) }));
            if (answer.status === 200 || answer.status === 201) break;
            if (attempt >= 20) throw new Error(`PUT m${i} at ${address} keeps failing: ${answer.status} ${JSON.stringify(answer.body)}`);
            retried++;
            await sleep(50);
          }
        }
      } finally {
        connection.close();
      }
    }),
  );
  const loadSeconds = (performance.now() - started) / 1000;
  const settled = await pollUntil(async () => {
    const states = await Promise.all(cluster.addresses.map((address) => getJson(address, '/debug/state')));
    return states.every((s, i) => s.liveKeys === expected.get(cluster.shardOfNode.get(cluster.addresses[i])) && s.pendingEvents === 0 && s.logLength <= 10);
  }, 60_000);
  if (!settled) log(`  ${cluster.layout.name}: not every node held all its shard's keys with its log compacted within 60 s; measured anyway`);
  const loaded = await readMemory();
  return { loadWritesPerSecond: memKeys / loadSeconds, retried, settled, nodes: loaded.map((node, i) => ({ ...node, emptyHeapUsed: empty[i].heapUsed, emptyRss: empty[i].rss })) };
}

const range = (values) => (values.length > 1 ? ` (${fmt(Math.min(...values), 2)}-${fmt(Math.max(...values), 2)})` : '');

async function main() {
  const started = performance.now();
  const { default: autocannon } = await import('autocannon');
  const { store: bundle } = await buildBenchBundles(log);
  log(`layouts ${layoutNames.join(', ')}; ${repeat} repeat(s); ${os.cpus().length} CPUs, load average ${os.loadavg().map((v) => v.toFixed(1)).join(' ')}`);

  const writes = Object.fromEntries(layoutNames.map((name) => [name, []]));
  const forwarding = [];
  for (let r = 0; r < repeat; r++) {
    const order = layoutNames.map((_, i) => layoutNames[(i + r) % layoutNames.length]);
    for (const name of order) {
      const cluster = await startLayout(bundle, LAYOUTS[name]);
      try {
        const run = await measureWrites(autocannon, cluster);
        writes[name].push(run);
        log(
          `${name} (repeat ${r + 1}/${repeat}): ${fmt(run.writesPerSecond, 0)} writes/s, ${fmt(run.cpuUsPerWrite, 0)} us CPU/write, idle ${fmt(run.idleCores, 2)} cores, ` +
            `forwarded/write ${fmt(run.forwardedPerWrite, 2)}, I/O syscalls/write ${fmt(run.syscallsPerWrite, 2)}, switches/write ${fmt(run.switchesPerWrite, 2)}, non-2xx ${run.non2xx}, errors ${run.errors}`,
        );
        const { paced } = run;
        log(
          `${name} (repeat ${r + 1}/${repeat}) at ${pacedRate} writes/s offered: ${fmt(paced.writesPerSecond, 0)} writes/s, ${fmt(paced.cpuUsPerWrite, 0)} us CPU/write (${fmt(paced.busyCpuUsPerWrite, 0)} above idle), ` +
            `forwarded/write ${fmt(paced.forwardedPerWrite, 2)}, I/O syscalls/write ${fmt(paced.syscallsPerWrite, 2)}, switches/write ${fmt(paced.switchesPerWrite, 2)}, p50/p99 ${fmt(paced.latencyP50Ms, 1)}/${fmt(paced.latencyP99Ms, 1)} ms, non-2xx ${paced.non2xx}, errors ${paced.errors}`,
        );
        if (name === '2x3') {
          const probe = await measureForwarding(cluster);
          forwarding.push(probe);
          log(`  GET local p50/p99 ${fmt(probe.local.p50, 2)}/${fmt(probe.local.p99, 2)} ms, forwarded ${fmt(probe.forwarded.p50, 2)}/${fmt(probe.forwarded.p99, 2)} ms, unexpected answers ${probe.unexpected}`);
        }
      } finally {
        await stopLayout(cluster);
      }
    }
  }

  // The memory load writes each key at its shard already: 2x3-direct would repeat 2x3.
  const memoryLayouts = layoutNames.filter((name) => !LAYOUTS[name].direct);
  const memory = Object.fromEntries(memoryLayouts.map((name) => [name, []]));
  for (let r = 0; r < memRepeat; r++) {
    for (const name of memoryLayouts) {
      const cluster = await startLayout(bundle, LAYOUTS[name], ['--expose-gc']);
      try {
        const run = await measureMemory(cluster);
        memory[name].push(run);
        log(`${name} memory: ${memKeys} keys at ${fmt(run.loadWritesPerSecond, 0)} writes/s (${run.retried} retried${run.settled ? '' : ', not settled'}); rss ${run.nodes.map((n) => fmt(mib(n.rss), 0)).join('/')} MiB, heapUsed ${run.nodes.map((n) => fmt(mib(n.heapUsed), 0)).join('/')} MiB`);
      } finally {
        await stopLayout(cluster);
      }
    }
  }

  // ---------------------------------------------------------------- the tables
  const ratioTo = (name, field, runs, base = BASELINE) => runs[name].map((run, i) => (runs[base]?.[i]?.[field] ? run[field] / runs[base][i][field] : null)).filter((v) => v !== null);
  console.log(`\n## sharding: ${layoutNames.join(', ')}; ${os.cpus().length} CPUs; medians of ${repeat} repeat(s); ratios vs ${LAYOUTS[BASELINE].title}\n`);
  console.log(`Writes: ${connections} closed-loop clients (keep-alive, round-robin over the nodes, each chaining its metadata), random keys of ${KEYS}, ${seconds} s after ${warmupSeconds} s warm-up.\n`);
  const against1x6 = '1x6' in writes;
  /** The median ratio of `field` to the `base` layout's in the same repeat, with the range over the repeats. */
  const ratioCell = (runs, name, field, base = BASELINE) => {
    const values = ratioTo(name, field, runs, base);
    return `${fmt(median(values), 2)}${range(values)}`;
  };
  const x1x6 = (runs, name, field) => (against1x6 ? ` ${ratioCell(runs, name, field, '1x6')} |` : '');
  console.log(`| layout | writes/s | ratio | cluster CPU us/write | ratio |${against1x6 ? ' x 1x6 |' : ''} idle cluster CPU (cores) | CPU us/write above idle | ratio |${against1x6 ? ' x 1x6 |' : ''} forwarded/write | forward ms (mean) | I/O syscalls/write | context switches/write | non-2xx |`);
  console.log(`| --- | ---: | ---: | ---: | ---: |${against1x6 ? ' ---: |' : ''} ---: | ---: | ---: |${against1x6 ? ' ---: |' : ''} ---: | ---: | ---: | ---: | ---: |`);
  for (const name of layoutNames) {
    const runs = writes[name];
    const m = (field) => median(runs.map((run) => run[field]));
    console.log(
      `| ${LAYOUTS[name].title} | ${fmt(m('writesPerSecond'), 0)} | ${ratioCell(writes, name, 'writesPerSecond')} | ${fmt(m('cpuUsPerWrite'), 0)} | ${ratioCell(writes, name, 'cpuUsPerWrite')} |${x1x6(writes, name, 'cpuUsPerWrite')} ` +
        `${fmt(m('idleCores'), 2)} | ${fmt(m('busyCpuUsPerWrite'), 0)} | ${ratioCell(writes, name, 'busyCpuUsPerWrite')} |${x1x6(writes, name, 'busyCpuUsPerWrite')} ${fmt(m('forwardedPerWrite'), 2)} | ${fmt(m('forwardMs'), 1)} | ${fmt(m('syscallsPerWrite'), 2)} | ${fmt(m('switchesPerWrite'), 2)} | ${runs.reduce((n, run) => n + run.non2xx + run.errors, 0)} |`,
    );
  }
  const paced = Object.fromEntries(layoutNames.map((name) => [name, writes[name].map((run) => run.paced)]));
  console.log(
    `\nWrites at the same offered load: ${pacedRate} writes/s, evenly spaced (open loop), from ${connections} clients round-robin over the nodes, ${seconds} s, right after the closed loop on the same cluster. ` +
      'At saturation a layout batches more the more writes it carries at once; here every layout carries the same writes, so the CPU per write compares the work each write costs.\n',
  );
  console.log(`| layout | writes/s | cluster CPU us/write | ratio |${against1x6 ? ' x 1x6 |' : ''} CPU us/write above idle | ratio |${against1x6 ? ' x 1x6 |' : ''} forwarded/write | I/O syscalls/write | context switches/write | latency p50/p99 ms | non-2xx |`);
  console.log(`| --- | ---: | ---: | ---: |${against1x6 ? ' ---: |' : ''} ---: | ---: |${against1x6 ? ' ---: |' : ''} ---: | ---: | ---: | ---: | ---: |`);
  for (const name of layoutNames) {
    const runs = paced[name];
    const m = (field) => median(runs.map((run) => run[field]));
    console.log(
      `| ${LAYOUTS[name].title} | ${fmt(m('writesPerSecond'), 0)} | ${fmt(m('cpuUsPerWrite'), 0)} | ${ratioCell(paced, name, 'cpuUsPerWrite')} |${x1x6(paced, name, 'cpuUsPerWrite')} ` +
        `${fmt(m('busyCpuUsPerWrite'), 0)} | ${ratioCell(paced, name, 'busyCpuUsPerWrite')} |${x1x6(paced, name, 'busyCpuUsPerWrite')} ${fmt(m('forwardedPerWrite'), 2)} | ${fmt(m('syscallsPerWrite'), 2)} | ${fmt(m('switchesPerWrite'), 2)} | ` +
        `${fmt(m('latencyP50Ms'), 1)}/${fmt(m('latencyP99Ms'), 1)} | ${runs.reduce((n, run) => n + run.non2xx + run.errors, 0)} |`,
    );
  }
  if (forwarding.length > 0) {
    const m = (kind, q) => median(forwarding.map((probe) => probe[kind][q]));
    console.log(`\nGET latency in 2x3, idle cluster, one client, ${gets} GETs of each kind per repeat (${probeKeys} keys):\n`);
    console.log('| GET sent to | p50 ms | p99 ms |');
    console.log('| --- | ---: | ---: |');
    console.log(`| a member of the key's shard (local) | ${fmt(m('local', 'p50'), 2)} | ${fmt(m('local', 'p99'), 2)} |`);
    console.log(`| a node of the other shard (forwarded) | ${fmt(m('forwarded', 'p50'), 2)} | ${fmt(m('forwarded', 'p99'), 2)} |`);
    console.log(`| forwarded - local | ${fmt(m('forwarded', 'p50') - m('local', 'p50'), 2)} | ${fmt(m('forwarded', 'p99') - m('local', 'p99'), 2)} |`);
    const unexpected = forwarding.reduce((n, probe) => n + probe.unexpected, 0);
    if (unexpected > 0) console.log(`\n${unexpected} GET answers were not 200 with the key's shard-id.`);
  }
  console.log(`\nMemory per node after ${memKeys} keys (${valueBytes}-byte values), replication settled, after GC; median over the nodes${memRepeat > 1 ? ` and ${memRepeat} repeats` : ''} (min-max):\n`);
  console.log('| layout | keys per node | rss MiB | ratio | heapUsed MiB | ratio | heap B per key held | load writes/s |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  const nodesOf = (name) => memory[name]?.flatMap((run) => run.nodes) ?? [];
  const base = nodesOf(BASELINE);
  for (const name of memoryLayouts) {
    const nodes = nodesOf(name);
    const col = (f) => nodes.map(f);
    const rss = median(col((n) => n.rss));
    const heap = median(col((n) => n.heapUsed));
    const perKey = median(col((n) => (n.heapUsed - n.emptyHeapUsed) / Math.max(1, n.liveKeys)));
    const spread = (values) => `${fmt(mib(Math.min(...values)), 0)}-${fmt(mib(Math.max(...values)), 0)}`;
    const ratio = (value, f) => (base.length === 0 ? '-' : fmt(value / median(base.map(f)), 2));
    console.log(
      `| ${LAYOUTS[name].title} | ${fmt(median(col((n) => n.liveKeys)), 0)} | ${fmt(mib(rss), 0)} (${spread(col((n) => n.rss))}) | ${ratio(rss, (n) => n.rss)} | ` +
        `${fmt(mib(heap), 1)} (${spread(col((n) => n.heapUsed))}) | ${ratio(heap, (n) => n.heapUsed)} | ${fmt(perKey, 0)} | ${fmt(median(memory[name].map((run) => run.loadWritesPerSecond)), 0)} |`,
    );
  }
  console.log(`\n${round((performance.now() - started) / 1000, 0)} s in all; load average at the end ${os.loadavg().map((v) => v.toFixed(1)).join(' ')}.`);
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
