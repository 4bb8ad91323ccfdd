// The replication-lag probe of `npm run bench`: a worker thread's entry, started by bench-lag.mjs,
// so that the load generator's event loop does not delay its timings. `chains` independent probe
// clients, each with its own metadata and keys and one write at a time: a plain GET at the two
// other replicas (metadata they already cover), then a PUT at one replica, then a GET of that key
// at the other two with the metadata it returned. Posts the raw samples back; bench-lag.mjs
// turns them into the lag.
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parentPort, workerData } from 'node:worker_threads';
import { KeepAliveConnection } from './bench-http-connection.mjs';
import { absorb, getBody, newSession } from './bench-session.mjs';

async function lagProbe({ replicas, seconds, gapMs, chains }) {
  const connectionsOfChain = Array.from({ length: chains }, () => new Map(replicas.map((r) => [r, new KeepAliveConnection(r)])));
  const samples = []; // { probe, to, rawMs, status }
  const plain = new Map(replicas.map((r) => [r, []]));
  const statuses = {};
  const count = (status) => (statuses[status] = (statuses[status] ?? 0) + 1);
  let mismatches = 0;
  const deadline = performance.now() + seconds * 1000;
  const chain = async (c) => {
    const session = newSession(`probe${c}`, 'all');
    // One connection per replica per chain: a chain has at most one request at a time at each.
    const connections = connectionsOfChain[c];
    for (let i = 0; performance.now() < deadline; i += 1) {
      const at = replicas[(i + c) % replicas.length];
      const others = replicas.filter((r) => r !== at);
      // Plain GETs: metadata the others already cover (they served this chain's previous write).
      const plainAnswers = await Promise.all(others.map((r) => connections.get(r).request('GET', '/kvs/k0', getBody(session))));
      plainAnswers.forEach((answer, j) => {
        count(answer.status);
        if (answer.status === 200) plain.get(others[j]).push(answer.ms);
      });
      const key = `lagprobe${c}-${i % 64}`;
      const value = `probe-${c}-${i}`;
      const written = await connections.get(at).request('PUT', `/kvs/${key}`, JSON.stringify({ value, 'causal-metadata': session.meta }));
      count(written.status);
      if (written.status !== 200 && written.status !== 201) {
        await sleep(gapMs);
        continue;
      }
      const ack = written.ended;
      absorb(session, written.body);
      const reads = await Promise.all(others.map((r) => connections.get(r).request('GET', `/kvs/${key}`, getBody(session))));
      reads.forEach((answer, j) => {
        count(answer.status);
        if (answer.status === 200 && answer.body?.value !== value) mismatches += 1;
        samples.push({ probe: `${c}-${i}`, to: others[j], rawMs: answer.ended - ack, status: answer.status });
      });
      await sleep(gapMs);
    }
  };
  await Promise.all(Array.from({ length: chains }, (_, c) => chain(c)));
  for (const connections of connectionsOfChain) for (const connection of connections.values()) connection.close();
  return { samples, plain: Object.fromEntries(plain), statuses, mismatches };
}

if (parentPort === null) throw new Error('scripts/bench-lag-probe.mjs runs as a worker thread of scripts/bench-lag.mjs (npm run bench)');
parentPort.postMessage(await lagProbe(workerData));
