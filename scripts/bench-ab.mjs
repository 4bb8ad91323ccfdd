// Is bundle B cheaper than bundle A? A paired comparison that holds on a noisy machine.
//
//   node scripts/bench-ab.mjs OLD.mjs NEW.mjs      (AB_MODE=single|cluster AB_ROUNDS=5 AB_SECONDS=4 AB_LOADS=GET,PUT AB_RATE=0)
//
// On a shared VM the speed of the CPUs drifts by tens of percent within minutes, so numbers taken
// one after the other (A, then B) mostly measure the drift. Here A and B run at the same time, on
// the same cores, under the same load from this process (autocannon, 1,000 keys, clients that carry
// their causal metadata): whatever the machine does, it does to both. Each round reports the
// server CPU time per request of each (user + system, from /proc; summed over the three replicas in
// cluster mode) and the ratio B/A; the summary is the median ratio per load.
//   AB_MODE=single: one replica each (VIEW = itself): the request path alone. Two copies of the
//     same bundle give 0.96-1.04 (the noise floor).
//   AB_MODE=cluster: two 3-replica clusters; writes replicate. What a write costs there depends on
//     how many writes share a push, so on the throughput: with closed-loop clients the side that
//     happens to go faster pays less per write. AB_RATE=N caps each side at N requests/s
//     (autocannon's per-connection rate) so both batch alike. Even so two copies of one bundle
//     give 0.94-1.14: only a difference well past that, over many rounds, means anything.
// The bundle of the last commit: `git stash && npm run build && cp dist/kvs.mjs /tmp/old.mjs && git stash pop`.
// Not a test; it asserts nothing. Every process it starts is stopped by PID.
import { metadataCarryingClient, serverCpuMs, ServerProcesses } from './bench-processes.mjs';

const [bundleA, bundleB] = process.argv.slice(2);
const mode = process.env.AB_MODE ?? 'single';
const rounds = Number(process.env.AB_ROUNDS ?? 5);
const seconds = Number(process.env.AB_SECONDS ?? 4);
const loads = (process.env.AB_LOADS ?? 'GET,PUT').split(',');
const rate = Number(process.env.AB_RATE ?? 0);
const keys = 1000;
const servers = new ServerProcesses();
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function startStore(bundle) {
  const { addresses, children } = await servers.startCluster(bundle, mode === 'cluster' ? 3 : 1);
  return { addresses, children, cpuMs: () => serverCpuMs(children.map((child) => child.pid)) };
}

async function main() {
  if (bundleA === undefined || bundleB === undefined) throw new Error('usage: node scripts/bench-ab.mjs A.mjs B.mjs');
  if (mode !== 'single' && mode !== 'cluster') throw new Error('AB_MODE is single or cluster');
  const { default: autocannon } = await import('autocannon');
  const stores = [await startStore(bundleA), await startStore(bundleB)];
  const connections = mode === 'cluster' ? 24 : 8;
  const load = (store, method, duration) =>
    autocannon({
      url: store.addresses.map((address) => `http://${address}`),
      connections,
      duration,
      ...(rate > 0 ? { connectionRate: Math.max(1, Math.round(rate / connections)) } : {}),
      requests: [{ method: 'GET', path: '/health' }], // replaced per client in setupClient
      setupClient: metadataCarryingClient(method, keys),
    });
  for (const method of loads) await Promise.all(stores.map((store) => load(store, method, 3))); // warm-up (the JIT)
  const ratios = new Map(loads.map((method) => [method, []]));
  console.log(`\n## A/B, ${mode}: A = ${bundleA}, B = ${bundleB}; ${connections} connections each${rate > 0 ? `, at most ${rate} requests/s` : ''}, ${seconds} s per round\n`);
  console.log('| round | load | A req/s | B req/s | A CPU us/req | B CPU us/req | B/A |');
  console.log('| ---: | --- | ---: | ---: | ---: | ---: | ---: |');
  for (let round = 1; round <= rounds; round++) {
    for (const method of loads) {
      const before = stores.map((store) => store.cpuMs());
      const results = await Promise.all(stores.map((store) => load(store, method, seconds)));
      const perRequest = stores.map((store, i) => ((store.cpuMs() - before[i]) * 1000) / results[i].requests.total);
      const ratio = perRequest[1] / perRequest[0];
      ratios.get(method).push(ratio);
      const achieved = (i) => (results[i].requests.total / results[i].duration).toFixed(0);
      console.log(`| ${round} | ${method} | ${achieved(0)} | ${achieved(1)} | ${perRequest[0].toFixed(1)} | ${perRequest[1].toFixed(1)} | ${ratio.toFixed(3)} |`);
    }
  }
  console.log('');
  for (const [method, values] of ratios) {
    console.log(`${method}: median B/A CPU per request ${median(values).toFixed(3)} (${values.map((v) => v.toFixed(3)).join(', ')})`);
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
