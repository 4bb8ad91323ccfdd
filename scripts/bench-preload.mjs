// The preload of `npm run bench`: k0..k<BENCH_KEYS-1> (32-byte string values) written into the
// baseline and into the store, both at once, then a wait until the three replicas hold the same clock.
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { httpJson } from './bench-http-json.mjs';
import { debugState, waitUntil } from './bench-servers.mjs';
import { absorb, newSession, putBody, valueFor } from './bench-session.mjs';
import { KEYS } from './bench-settings.mjs';

/** PUTs k0..k(KEYS-1), `concurrency` sessions spread over `addresses`, each carrying its metadata; returns the retried statuses. */
async function preload(addresses, concurrency = 32) {
  const agents = new Map(addresses.map((a) => [a, new http.Agent({ keepAlive: true, maxSockets: concurrency })]));
  let next = 0;
  const failures = {};
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      const address = addresses[w % addresses.length];
      const session = newSession(`preload${w}`, address);
      while (next < KEYS) {
        const i = next++;
        for (let attempt = 0; ; attempt += 1) {
          const answer = await httpJson(agents.get(address), address, 'PUT', `/kvs/k${i}`, putBody(session, valueFor(i)));
          absorb(session, answer.body);
          if (answer.status === 200 || answer.status === 201) break;
          failures[answer.status] = (failures[answer.status] ?? 0) + 1;
          if (attempt >= 20) throw new Error(`preload of k${i} at ${address} keeps failing: ${answer.status} ${JSON.stringify(answer.body)}`);
          await sleep(50);
        }
      }
    }),
  );
  for (const agent of agents.values()) agent.destroy();
  return failures;
}

const sortedJson = (clock) => JSON.stringify(Object.entries(clock ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

/** Preloads the servers of startServers (bench-servers.mjs); returns each one's time in seconds and the store's retried statuses. */
export async function preloadServers({ baselineAddress, storeAddresses, replicaProcs }) {
  // Both at once: they are independent, and the store's preload bounds the run time.
  const t = performance.now();
  let baselineSeconds = 0;
  let storeSeconds = 0;
  const [, storeFailures] = await Promise.all([
    preload([baselineAddress]).then(() => (baselineSeconds = (performance.now() - t) / 1000)),
    preload(storeAddresses).then((failures) => {
      storeSeconds = (performance.now() - t) / 1000;
      return failures;
    }),
  ]);
  await waitUntil(
    'the three replicas to converge after the preload',
    async () => {
      const states = await Promise.all(storeAddresses.map(debugState));
      const clocks = new Set(states.map((s) => sortedJson(s.clock)));
      return clocks.size === 1 && states.every((s) => s.pendingEvents === 0 && s.liveKeys >= KEYS);
    },
    30_000,
    replicaProcs,
  );
  return { baselineSeconds, storeSeconds, storeFailures };
}
