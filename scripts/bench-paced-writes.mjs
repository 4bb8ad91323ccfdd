// The paced write load of `npm run bench`'s replication-lag run (bench-lag.mjs): open-loop, evenly
// spaced writes at a given rate from the load clients' sessions, one request at a time each, over
// KeepAliveConnection (bench-http-connection.mjs).
import { performance } from 'node:perf_hooks';
import { KeepAliveConnection } from './bench-http-connection.mjs';
import { absorb, nextValue, noteSent, putBody, randomKey } from './bench-session.mjs';
import { percentiles, round } from './bench-stats.mjs';

/**
 * An open-loop write load at `rate` per second, evenly spaced, over `sessions` (one connection
 * each), each write of the key `keyFor(session)` returns (a uniformly random one unless given).
 */
export async function pacedWrites(sessions, rate, seconds, keyFor = randomKey) {
  const connections = new Map(sessions.map((s) => [s, new KeepAliveConnection(s.replica)]));
  const idle = [...sessions];
  const statuses = {};
  const latencies = [];
  let issued = 0;
  let skipped = 0;
  let inFlight = 0;
  const started = performance.now();
  const end = started + seconds * 1000;
  await new Promise((resolve) => {
    const send = (session) => {
      inFlight += 1;
      const key = keyFor(session);
      noteSent(session);
      connections.get(session).request('PUT', `/kvs/${key}`, putBody(session, nextValue()))
        .then((answer) => {
          statuses[answer.status] = (statuses[answer.status] ?? 0) + 1;
          latencies.push(answer.ms);
          absorb(session, answer.body);
        })
        .catch(() => {
          statuses.error = (statuses.error ?? 0) + 1;
        })
        .finally(() => {
          inFlight -= 1;
          idle.push(session);
        });
    };
    const timer = setInterval(() => {
      const now = performance.now();
      const due = Math.floor(((Math.min(now, end) - started) / 1000) * rate) - issued;
      for (let i = 0; i < due; i += 1) {
        issued += 1;
        const session = idle.shift();
        if (session === undefined) skipped += 1;
        else send(session);
      }
      if (now >= end) {
        clearInterval(timer);
        const wait = setInterval(() => {
          if (inFlight === 0) {
            clearInterval(wait);
            resolve();
          }
        }, 5);
      }
    }, 1);
  });
  for (const connection of connections.values()) connection.close();
  const [p50, p99] = percentiles(latencies, [0.5, 0.99]);
  return {
    targetRate: rate,
    achievedRate: round(latencies.length / seconds, 1),
    skippedNoIdleClient: skipped,
    statuses,
    count503: statuses['503'] ?? 0,
    p50Ms: round(p50, 3),
    p99Ms: round(p99, 3),
  };
}
