// The closed-loop loads of `npm run bench` (reads, writes, 90/10 mix): autocannon runs against the
// baseline and the store, BENCH_CONNECTIONS clients each carrying its causal metadata (a session
// per connection, bench-session.mjs; for the store spread evenly over the replicas, each client
// staying on its replica), the median over BENCH_REPEAT repeats, and the store/baseline ratio.
import { cpuMeter } from './bench-processes.mjs';
import { fmt } from './bench-report.mjs';
import { absorb, getBody, newSession, nextValue, noteSent, putBody, randomKey } from './bench-session.mjs';
import { LOADS } from './bench-settings.mjs';
import { median, percentiles, round } from './bench-stats.mjs';

/** The baseline and the store as load targets, with `connections` client sessions each (the store's round-robin over its replicas). */
export function loadTargets({ baselineAddress, storeAddresses, baselineProc, replicaProcs }, connections) {
  const targets = {
    baseline: { name: 'baseline', addresses: [baselineAddress], pids: [baselineProc.child.pid], sessions: [] },
    store: { name: 'store', addresses: storeAddresses, pids: replicaProcs.map((r) => r.child.pid), sessions: [] },
  };
  for (const target of Object.values(targets)) {
    for (let i = 0; i < connections; i += 1) target.sessions.push(newSession(`${target.name}${i}`, target.addresses[i % target.addresses.length]));
  }
  return targets;
}

/** The per-connection request list: one request, rebuilt before every send from the session. */
function requestsFor(session, load, stats) {
  return [
    {
      method: 'GET',
      path: '/kvs/k0',
      headers: { 'content-type': 'application/json' },
      setupRequest(req) {
        const write = load.readFraction < 1 && Math.random() >= load.readFraction;
        const key = randomKey();
        session.lastOp = write ? 'write' : 'read';
        noteSent(session);
        req.method = write ? 'PUT' : 'GET';
        req.path = `/kvs/${key}`;
        req.body = write ? putBody(session, nextValue()) : getBody(session);
        return req;
      },
      onResponse(status, body) {
        let parsed = null;
        try {
          parsed = JSON.parse(body);
        } catch {
          stats.unparsable += 1;
        }
        absorb(session, parsed);
      },
    },
  ];
}

function runAutocannon(autocannon, opts) {
  return new Promise((resolve, reject) => {
    const instance = autocannon(opts, (error, result) => (error ? reject(error) : resolve(result)));
    opts.onInstance?.(instance);
  });
}

/** One timed run of `load` against `target`; sessions persist across runs (warm-up included). */
async function runLoad(autocannon, target, load, seconds, connections) {
  const stats = {
    unparsable: 0,
    latencies: [],
    byOp: { read: { latencies: [], statuses: {} }, write: { latencies: [], statuses: {} } },
    statuses: {},
  };
  const sessionOf = new WeakMap();
  let created = 0;
  const urls = target.addresses.map((a) => `http://${a}`);
  const before = target.sessions.map((s) => ({ sent: s.sent, sentWithMeta: s.sentWithMeta, metaBytes: s.metaBytes }));
  const serverCpu = cpuMeter(target.pids);
  const result = await runAutocannon(autocannon, {
    url: urls,
    connections,
    pipelining: 1,
    duration: seconds,
    timeout: 10,
    requests: [{ method: 'GET', path: '/health' }], // replaced per client in setupClient
    setupClient(client) {
      const index = created++;
      const session = target.sessions[index];
      const address = `${client.opts.hostname}:${client.opts.port}`;
      if (session.replica !== address) throw new Error(`client ${index} targets ${address}, its session ${session.replica}`);
      sessionOf.set(client, session);
      client.setRequests(requestsFor(session, load, stats));
    },
    onInstance(instance) {
      instance.on('response', (client, status, _bytes, ms) => {
        const session = sessionOf.get(client);
        stats.latencies.push(ms);
        stats.statuses[status] = (stats.statuses[status] ?? 0) + 1;
        const op = stats.byOp[session?.lastOp ?? 'read'];
        op.latencies.push(ms);
        op.statuses[status] = (op.statuses[status] ?? 0) + 1;
      });
    },
  });
  let sent = 0;
  let sentWithMeta = 0;
  let metaBytes = 0;
  target.sessions.forEach((s, i) => {
    sent += s.sent - before[i].sent;
    sentWithMeta += s.sentWithMeta - before[i].sentWithMeta;
    metaBytes += s.metaBytes - before[i].metaBytes;
  });
  const [p50, p99, p999] = percentiles(stats.latencies, [0.5, 0.99, 0.999]);
  const opSummary = (op) => {
    const [o50, o99, o999] = percentiles(op.latencies, [0.5, 0.99, 0.999]);
    return { count: op.latencies.length, p50Ms: round(o50, 3), p99Ms: round(o99, 3), p999Ms: round(o999, 3), statuses: op.statuses };
  };
  const cpuMs = serverCpu();
  const non2xx = Object.fromEntries(Object.entries(stats.statuses).filter(([s]) => !s.startsWith('2')));
  return {
    target: target.name,
    load: load.name,
    seconds: result.duration,
    responses: stats.latencies.length,
    throughput: round(stats.latencies.length / result.duration, 1),
    p50Ms: round(p50, 3),
    p99Ms: round(p99, 3),
    p999Ms: round(p999, 3),
    statuses: stats.statuses,
    non2xx,
    count503: stats.statuses['503'] ?? 0,
    errors: result.errors,
    timeouts: result.timeouts,
    unparsableBodies: stats.unparsable,
    serverCpuUsPerResponse: cpuMs === null || stats.latencies.length === 0 ? null : round((cpuMs * 1000) / stats.latencies.length, 1),
    requestsSent: sent,
    sentWithMetadata: sentWithMeta,
    carriedShare: sent === 0 ? null : round(sentWithMeta / sent, 4),
    metadataBytesPerRequest: sent === 0 ? null : round(metaBytes / sent, 1),
    read: opSummary(stats.byOp.read),
    write: opSummary(stats.byOp.write),
  };
}

/** The median over repeats of every numeric field; statuses summed. */
function combine(runs) {
  if (runs.length === 1) return { ...runs[0], repeats: 1 };
  const pick = (field) => median(runs.map((r) => r[field]));
  const sum = (field) => {
    const out = {};
    for (const r of runs) for (const [k, v] of Object.entries(r[field])) out[k] = (out[k] ?? 0) + v;
    return out;
  };
  return {
    ...runs[0],
    repeats: runs.length,
    throughput: pick('throughput'),
    p50Ms: pick('p50Ms'),
    p99Ms: pick('p99Ms'),
    p999Ms: pick('p999Ms'),
    metadataBytesPerRequest: pick('metadataBytesPerRequest'),
    serverCpuUsPerResponse: pick('serverCpuUsPerResponse'),
    carriedShare: pick('carriedShare'),
    statuses: sum('statuses'),
    non2xx: sum('non2xx'),
    count503: runs.reduce((n, r) => n + r.count503, 0),
    errors: runs.reduce((n, r) => n + r.errors, 0),
    timeouts: runs.reduce((n, r) => n + r.timeouts, 0),
    runs,
  };
}

/**
 * The load `loadName` against the baseline and the store, interleaved, `repeat` times (each a
 * warm-up, then the measured run); returns the report's entry for it.
 */
export async function measureLoad(autocannon, targets, loadName, { seconds, warmupSeconds, connections, repeat }, log) {
  const load = LOADS[loadName];
  const runs = { baseline: [], store: [] };
  for (let r = 0; r < repeat; r += 1) {
    for (const target of [targets.baseline, targets.store]) {
      log(`${load.title} against ${target.name}${repeat > 1 ? ` (repeat ${r + 1}/${repeat})` : ''}: warm-up ${warmupSeconds} s, then ${seconds} s`);
      await runLoad(autocannon, target, load, warmupSeconds, connections);
      const result = await runLoad(autocannon, target, load, seconds, connections);
      runs[target.name].push(result);
      log(`  ${fmt(result.throughput, 0)} req/s, p50 ${fmt(result.p50Ms, 2)} ms, p99 ${fmt(result.p99Ms, 2)} ms, statuses ${JSON.stringify(result.statuses)}`);
    }
  }
  const baseline = combine(runs.baseline);
  const store = combine(runs.store);
  // Each repeat's store run follows its baseline run within seconds: the ratio of that pair is
  // what the machine's drift between repeats disturbs least. The median of those is the ratio.
  const pairRatios = runs.store.map((run, i) => (runs.baseline[i].throughput ? run.throughput / runs.baseline[i].throughput : null)).filter((r) => r !== null);
  return { load: loadName, baseline, store, ratio: pairRatios.length ? round(median(pairRatios), 3) : null, pairRatios: pairRatios.map((r) => round(r, 3)) };
}
