// The settings of `npm run bench` (scripts/bench.mjs), from the environment: every variable is
// listed, with its default, in the header of scripts/bench.mjs (BENCH_SKIP_BUILD is read by
// bench-bundles.mjs, which the smaller benchmarks share). A value that is not a positive number
// stops the run before anything starts; BENCH_LAG_RATE and BENCH_NODE_ARGS are read where they are
// used (when the lag run starts, and for every server started).

/** A positive number from the environment variable `name`, or `fallback` where it is unset or empty. */
export function intEnv(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got ${JSON.stringify(raw)}`);
  return value;
}

/** How many keys (k0..k<KEYS-1>) the preload writes and the loads pick from. */
export const KEYS = intEnv('BENCH_KEYS', 10_000);

/** The closed-loop loads BENCH_LOADS can name (besides `lag`): the share of reads, and the table's title. */
export const LOADS = {
  reads: { name: 'reads', title: 'reads only', readFraction: 1 },
  writes: { name: 'writes', title: 'writes only', readFraction: 0 },
  mix: { name: 'mix', title: '90/10 read/write', readFraction: 0.9 },
};

/** The run's durations, clients, repeats, loads and profiling, checked. */
export function readSettings() {
  const seconds = intEnv('BENCH_SECONDS', 8);
  const warmupSeconds = intEnv('BENCH_WARMUP_SECONDS', 2);
  const connections = Math.max(3, Math.round(intEnv('BENCH_CONNECTIONS', 48) / 3) * 3);
  const repeat = intEnv('BENCH_REPEAT', 1);
  const loads = (process.env.BENCH_LOADS ?? 'reads,writes,mix,lag').split(',').map((s) => s.trim()).filter(Boolean);
  for (const l of loads) if (!(l in LOADS) && l !== 'lag') throw new Error(`BENCH_LOADS: unknown load ${JSON.stringify(l)} (reads, writes, mix, lag)`);
  const cpuProf = process.env.BENCH_CPU_PROF === '1';
  return { seconds, warmupSeconds, connections, repeat, loads, cpuProf };
}

/** BENCH_LAG_RATE (writes/s), or undefined where it is not set (the lag run then takes half the measured peak). */
export const lagRateSetting = () => (process.env.BENCH_LAG_RATE ? intEnv('BENCH_LAG_RATE', 0) : undefined);

/** BENCH_NODE_ARGS: node command-line flags for every server started, split on spaces. */
export const nodeArgsSetting = () => (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
