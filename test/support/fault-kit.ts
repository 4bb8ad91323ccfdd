import { relative } from 'node:path';
import { startReplica, type ReplicaOptions, type ReplicaProcess } from './cluster.ts';
import { request, sleep, type Answer } from './http.ts';
import type { Host } from './netns.ts';

/**
 * Shared pieces of the fault tests (test/fault/crash-*, partition-*, nemesis-*): a seeded PRNG,
 * clients that carry causal metadata and record a checkable history, and convergence checks that
 * poll the replicas' public and debug endpoints with bounded time.
 */

// ------------------------------------------------------------------ randomness

/** The seeded PRNG the simulation uses too (mulberry32): the same seed replays the same faults. */
export { Random as Rng } from './random.ts';
import type { Random as Rng } from './random.ts';

// ------------------------------------------------------------------ cluster layout

/** Replica `i` (0-based) of a fault test: 127.0.0.(2+i), its own uid for nft owner rules. */
export function hostsOf(count: number, port: number): { hosts: Host[]; addresses: string[]; uids: number[] } {
  const hosts = Array.from({ length: count }, (_, i) => ({ ip: `127.0.0.${2 + i}`, uid: 10002 + i }));
  return { hosts, addresses: hosts.map((h) => `${h.ip}:${port}`), uids: hosts.map((h) => h.uid) };
}

/** Prints one measurement in a form that is easy to grep out of a run: `# measure <name> <ms> ms`. */
export function measure(name: string, ms: number): number {
  console.log(`# measure ${name} ${Math.round(ms)} ms`);
  return ms;
}

/** Ends the test process (and with it, through cluster.ts's exit hook, every replica) if it hangs. */
export function watchdog(ms: number, what: string): void {
  setTimeout(() => {
    console.error(`watchdog: ${what} did not finish within ${ms} ms`);
    process.exit(1);
  }, ms).unref();
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

// ------------------------------------------------------------------ history

type TestClock = Record<string, number>;

/** One write a client attempted. Its value is `<writer>#<n>`, unique in the run. */
export interface WriteRecord {
  readonly id: string;
  readonly writer: string;
  readonly n: number;
  readonly key: string;
  /** The writer's causal past when it wrote (test-side: its own acked writes and what it read). */
  readonly deps: TestClock;
  acked: boolean;
}

/**
 * Every write of a run with the causality the test itself can vouch for. A client is a sequence of
 * "logical writers": after a write whose outcome it does not know (an error or timeout), it goes on
 * under a new writer name, so that within one writer every write but possibly the last was
 * acknowledged, and `seen[writer] = n` truthfully means "writes 1..n of writer are in my past".
 */
export class History {
  readonly writes = new Map<string, WriteRecord>();
  private readonly byKey = new Map<string, WriteRecord[]>();
  readonly violations: string[] = [];

  register(writer: string, n: number, key: string, deps: TestClock): WriteRecord {
    const record: WriteRecord = { id: `${writer}#${n}`, writer, n, key, deps, acked: false };
    this.writes.set(record.id, record);
    let list = this.byKey.get(key);
    if (list === undefined) this.byKey.set(key, (list = []));
    list.push(record);
    return record;
  }

  keys(): string[] {
    return [...this.byKey.keys()].sort();
  }

  writesOf(key: string): readonly WriteRecord[] {
    return this.byKey.get(key) ?? [];
  }

  /** a happened before b, as far as the clients' own causality goes. */
  before(a: WriteRecord, b: WriteRecord): boolean {
    return a.id !== b.id && (b.deps[a.writer] ?? 0) >= a.n;
  }

  static inPast(record: WriteRecord, seen: TestClock): boolean {
    return (seen[record.writer] ?? 0) >= record.n;
  }

  /**
   * What a read of `key` by a client whose past is `seen` may return: a registered value that no
   * write of `key` in the client's past supersedes, or, if no write of `key` is in its past, 404.
   * Covers read-your-writes and monotonic reads (both are "a write in my past supersedes it").
   * Returns a description of the violation, or undefined.
   */
  judgeRead(key: string, seen: TestClock, value: unknown): string | undefined {
    const known = this.writesOf(key).filter((w) => History.inPast(w, seen));
    if (value === undefined) {
      return known.length > 0 ? `404 although the client already depends on ${known.map((w) => w.id).join(', ')}` : undefined;
    }
    const record = typeof value === 'string' ? this.writes.get(value) : undefined;
    if (record === undefined || record.key !== key) return `value ${JSON.stringify(value)} was never written to ${key}`;
    const newer = known.find((w) => this.before(record, w));
    return newer === undefined ? undefined : `stale ${record.id}: the client already depends on the newer ${newer.id}`;
  }

  /**
   * What the final, converged value of `key` may be: a registered write that no acknowledged write
   * of `key` supersedes (so every acknowledged write survives, itself or through a newer one).
   */
  judgeFinal(key: string, value: unknown): string | undefined {
    const acked = this.writesOf(key).filter((w) => w.acked);
    if (value === undefined) return acked.length > 0 ? `lost: 404, but ${acked.map((w) => w.id).slice(-3).join(', ')} were acknowledged` : undefined;
    const record = typeof value === 'string' ? this.writes.get(value) : undefined;
    if (record === undefined || record.key !== key) return `value ${JSON.stringify(value)} was never written to ${key}`;
    const lost = acked.find((w) => this.before(record, w));
    return lost === undefined ? undefined : `acknowledged ${lost.id} lost: the store shows the older ${record.id}`;
  }

  ackedCount(): number {
    let count = 0;
    for (const w of this.writes.values()) if (w.acked) count++;
    return count;
  }
}

// ------------------------------------------------------------------ clients

export interface OpRecord {
  readonly kind: 'put' | 'get';
  readonly address: string;
  readonly key: string;
  readonly startedAt: number;
  readonly endedAt: number;
  readonly ok: boolean;
  /** HTTP status, or the network error's code. */
  readonly outcome: string;
}

/** A course-style client: sends the latest metadata it got, one request at a time, and records it. */
export class Client {
  private epoch = 0;
  private n = 0;
  metadata: unknown = null;
  seen: TestClock = {};
  readonly ops: OpRecord[] = [];

  /** 503 answers that were retried. */
  retried503 = 0;

  constructor(
    readonly name: string,
    private readonly history: History,
    private readonly timeoutMs = 4000,
    private readonly retry503Ms = 6000,
  ) {}

  get writer(): string {
    return this.epoch === 0 ? this.name : `${this.name}~${this.epoch}`;
  }

  /**
   * One operation. A 503 (dependencies not delivered there yet: nothing was done) is retried, as
   * the course's clients do, for at most `retry503Ms` (a bit over LINK_HOLD_DOWN_MS: a probe that
   * times out on a loaded machine holds a link down that long); only what is left after that
   * counts as a failed operation. Network errors are not retried (a write's outcome is then unknown).
   */
  private async send(kind: 'put' | 'get', address: string, key: string, body: unknown): Promise<Answer | string> {
    const giveUpAt = Date.now() + this.retry503Ms;
    for (;;) {
      let answer: Answer | string;
      try {
        answer = await request(kind === 'put' ? 'PUT' : 'GET', address, `/kvs/${encodeURIComponent(key)}`, body, { timeoutMs: this.timeoutMs });
      } catch (error) {
        answer = (error as { code?: string }).code ?? String(error);
      }
      if (typeof answer === 'string' || answer.status !== 503 || Date.now() >= giveUpAt) return answer;
      this.retried503++;
      await sleep(100);
    }
  }

  private record(kind: 'put' | 'get', address: string, key: string, startedAt: number, ok: boolean, answer: Answer | string): void {
    this.ops.push({ kind, address, key, startedAt, endedAt: Date.now(), ok, outcome: typeof answer === 'string' ? answer : String(answer.status) });
  }

  /** Writes a fresh value; true when acknowledged (2xx). */
  async put(address: string, key: string): Promise<boolean> {
    const n = ++this.n;
    const write = this.history.register(this.writer, n, key, { ...this.seen });
    const startedAt = Date.now();
    const answer = await this.send('put', address, key, { value: write.id, 'causal-metadata': this.metadata });
    const ok = typeof answer !== 'string' && (answer.status === 200 || answer.status === 201);
    this.record('put', address, key, startedAt, ok, answer);
    if (ok) {
      write.acked = true;
      this.metadata = answer.body['causal-metadata'];
      this.seen[write.writer] = n;
    } else {
      // Unknown outcome: go on as a new writer (see History).
      this.epoch++;
      this.n = 0;
    }
    return ok;
  }

  /** Reads `key`, checks the answer against the client's past, and adopts it; true on 200 or 404. */
  async get(address: string, key: string): Promise<boolean> {
    const startedAt = Date.now();
    const answer = await this.send('get', address, key, { 'causal-metadata': this.metadata });
    const ok = typeof answer !== 'string' && (answer.status === 200 || answer.status === 404);
    this.record('get', address, key, startedAt, ok, answer);
    if (!ok || typeof answer === 'string') return false;
    const value = answer.status === 200 ? answer.body.value : undefined;
    const violation = this.history.judgeRead(key, this.seen, value);
    if (violation !== undefined) this.history.violations.push(`${this.name} GET ${key} at ${address}: ${violation}`);
    const record = typeof value === 'string' ? this.history.writes.get(value) : undefined;
    if (record !== undefined) {
      for (const [writer, n] of Object.entries(record.deps)) if ((this.seen[writer] ?? 0) < n) this.seen[writer] = n;
      if ((this.seen[record.writer] ?? 0) < record.n) this.seen[record.writer] = record.n;
    }
    if (answer.body?.['causal-metadata'] !== undefined) this.metadata = answer.body['causal-metadata'];
    return true;
  }

  /** Operations that failed, optionally only those sent to `addresses` and started at or after `since`. */
  failures(filter: { addresses?: readonly string[]; since?: number; until?: number } = {}): OpRecord[] {
    return this.ops.filter(
      (op) =>
        !op.ok &&
        (filter.addresses === undefined || filter.addresses.includes(op.address)) &&
        (filter.since === undefined || op.startedAt >= filter.since) &&
        (filter.until === undefined || op.startedAt < filter.until),
    );
  }
}

export interface LoadOptions {
  readonly clients: readonly Client[];
  readonly rng: Rng;
  /** Where client `i` sends its next request. */
  readonly target: (client: Client, index: number) => string;
  /** The keys client `i` writes; reads go to these too unless `readKeys` says otherwise. */
  readonly keys: (client: Client, index: number) => readonly string[];
  readonly readKeys?: (client: Client, index: number) => readonly string[];
  readonly readShare?: number;
  /** Pause between one client's requests (keeps the history small and the load steady). */
  readonly pauseMs?: number;
}

/** A running load: every client loops until stop() (or `maxMs`, whichever comes first). */
export class Load {
  private stopping = false;
  private readonly done: Promise<void>;

  constructor(private readonly options: LoadOptions, maxMs: number) {
    const deadline = Date.now() + maxMs;
    this.done = Promise.all(
      options.clients.map(async (client, index) => {
        while (!this.stopping && Date.now() < deadline) {
          const address = options.target(client, index);
          const read = options.rng.next() < (options.readShare ?? 0.3);
          const keys = read && options.readKeys !== undefined ? options.readKeys(client, index) : options.keys(client, index);
          const key = options.rng.pick(keys);
          if (read) await client.get(address, key);
          else await client.put(address, key);
          await sleep(options.pauseMs ?? 10);
        }
      }),
    ).then(() => undefined);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.done;
  }
}

// ------------------------------------------------------------------ cluster inspection

export interface DebugState {
  readonly id: string;
  readonly view: readonly string[];
  readonly clock: Record<string, number>;
  /** Per address, the latest replica life whose clock entry this replica retired, and its final seq. */
  readonly retiredLives?: Record<string, { readonly incarnation: string; readonly seq: number }>;
  readonly pendingEvents: number;
  readonly peers: readonly { address: string; inView: boolean; link: { state: string; heldDownRemainingMs?: number } }[];
}

export async function debugState(address: string): Promise<DebugState> {
  const answer = await request('GET', address, '/debug/state', undefined, { timeoutMs: 2000 });
  if (answer.status !== 200) throw new Error(`GET /debug/state at ${address}: ${answer.status}`);
  return answer.body as DebugState;
}

export function sameMembers(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && [...a].sort().join(',') === [...b].sort().join(',');
}

export function clockText(clock: Record<string, number>): string {
  return JSON.stringify(
    Object.entries(clock)
      .filter(([, n]) => n > 0)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
}

export function clockCovers(a: Record<string, number>, b: Record<string, number>): boolean {
  return Object.entries(b).every(([id, n]) => (a[id] ?? 0) >= n);
}

/**
 * The entry `id: n` of some metadata is satisfied at a replica in `state`: delivered, or its life's
 * entry was retired there (an older life at that address, or this one up to its final seq).
 */
export function satisfiedAt(state: DebugState, id: string, n: number): boolean {
  if ((state.clock[id] ?? 0) >= n) return true;
  const slash = id.lastIndexOf('/');
  const retired = state.retiredLives?.[id.slice(0, slash)];
  if (retired === undefined) return false;
  const incarnation = id.slice(slash + 1);
  const order = incarnation.length !== retired.incarnation.length ? incarnation.length - retired.incarnation.length : incarnation < retired.incarnation ? -1 : incarnation > retired.incarnation ? 1 : 0;
  return order < 0 || (order === 0 && n <= retired.seq);
}

function mergeInto(target: Record<string, number>, clock: Record<string, number>): void {
  for (const [id, n] of Object.entries(clock)) if ((target[id] ?? 0) < n) target[id] = n;
}

/** Polls until `check` holds; returns the ms it took, or throws with what it last saw. */
export async function timeUntil(what: string, check: () => Promise<string | true>, timeoutMs: number, everyMs = 50): Promise<number> {
  const started = Date.now();
  const deadline = started + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const result = await check();
      if (result === true) return Date.now() - started;
      last = result;
    } catch (error) {
      last = String(error);
    }
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last seen: ${last}`);
    await sleep(everyMs);
  }
}

/** Until every replica at `addresses` has exactly `members` in its GET /view. */
export function viewsAre(addresses: readonly string[], members: readonly string[]): () => Promise<string | true> {
  return async () => {
    const views = await Promise.all(addresses.map(async (a) => (await request('GET', a, '/view', undefined, { timeoutMs: 1000 })).body.view as string[]));
    return views.every((v) => sameMembers(v, members)) ? true : `views ${JSON.stringify(views)}`;
  };
}

/** Until every replica has every one of `members` in its view and all their clocks are equal with nothing pending. */
export function converged(addresses: readonly string[], members: readonly string[] = addresses): () => Promise<string | true> {
  return async () => {
    const states = await Promise.all(addresses.map(debugState));
    const views = states.map((s) => s.view);
    if (!views.every((v) => sameMembers(v, members))) return `views ${JSON.stringify(views)}`;
    const clocks = states.map((s) => clockText(s.clock));
    if (new Set(clocks).size !== 1) return `clocks differ: ${clocks.join(' | ')}`;
    if (states.some((s) => s.pendingEvents > 0)) return `pending ${states.map((s) => s.pendingEvents).join(',')}`;
    return true;
  };
}

/**
 * Until every replica at `on` has a clock covering what all replicas at `from` had delivered when
 * this was called: caught up to that cut, even while clients go on writing.
 */
export async function caughtUp(from: readonly string[], on: readonly string[] = from): Promise<() => Promise<string | true>> {
  const cut: Record<string, number> = {};
  for (const state of await Promise.all(from.map(debugState))) mergeInto(cut, state.clock);
  const addresses = on;
  return async () => {
    const states = await Promise.all(addresses.map(debugState));
    const behind = addresses.filter((_, i) => !Object.entries(cut).every(([id, n]) => satisfiedAt(states[i]!, id, n)));
    return behind.length === 0 ? true : `behind the cut: ${behind.join(', ')}`;
  };
}

/** Runs `tasks` with at most `limit` in flight. */
export async function inParallel<T>(items: readonly T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await task(items[next++]!);
    }),
  );
}

/**
 * Every replica answers every key of the run with the same value (or all 404), asked with no
 * metadata once the cluster has converged, and that value supersedes no acknowledged write (no
 * acknowledged write lost). Returns the problems found (empty: all good).
 */
export async function checkConvergedValues(addresses: readonly string[], history: History): Promise<string[]> {
  const problems: string[] = [];
  await inParallel(history.keys(), 8, async (key) => {
    const answers = await Promise.all(addresses.map((a) => request('GET', a, `/kvs/${encodeURIComponent(key)}`, { 'causal-metadata': null }, { timeoutMs: 3000 })));
    const values = answers.map((r) => (r.status === 200 ? r.body.value : r.status === 404 ? undefined : `<status ${r.status}>`));
    if (new Set(values.map((v) => JSON.stringify(v ?? null))).size !== 1) {
      problems.push(`${key} differs: ${addresses.map((a, i) => `${a}=${JSON.stringify(values[i] ?? null)}`).join(' ')}`);
    }
    for (const [i, value] of values.entries()) {
      const verdict = history.judgeFinal(key, value);
      if (verdict !== undefined) problems.push(`${key} at ${addresses[i]}: ${verdict}`);
    }
  });
  return problems;
}

/**
 * Each client reads each of `keys(client)` at every replica at `addresses` with its latest
 * metadata (a copy: the client itself is left as it was). Every read must succeed (200 or 404,
 * within the replica's causal wait) and be causal against the client's past: read-your-writes
 * and monotonic reads whichever replica it asks. Returns the problems found.
 */
export async function checkClientReads(addresses: readonly string[], history: History, clients: readonly Client[], keys: (client: Client) => readonly string[]): Promise<string[]> {
  const problems: string[] = [];
  for (const client of clients) {
    const before = history.violations.length;
    await inParallel(
      keys(client).flatMap((key) => addresses.map((address) => ({ key, address }))),
      4,
      async ({ key, address }) => {
        const probe = new Client(client.name, history);
        probe.metadata = client.metadata;
        probe.seen = { ...client.seen };
        const ok = await probe.get(address, key);
        if (!ok) problems.push(`${client.name} GET ${key} at ${address} with its metadata failed: ${probe.ops.at(-1)?.outcome}`);
      },
    );
    problems.push(...history.violations.splice(before));
  }
  return problems;
}

/** The last `lines` lines of each replica's log, for a failure message. */
export function tailLogs(replicas: readonly { address: string; logs(): string }[], lines = 30): string {
  return replicas.map((r) => `--- ${r.address}\n${r.logs().split('\n').slice(-lines).join('\n')}`).join('\n');
}

/** A short summary of a client population's outcomes, for the test output. */
export function summarize(clients: readonly Client[]): string {
  const ops = clients.flatMap((c) => c.ops);
  const failed = ops.filter((op) => !op.ok);
  const byOutcome = new Map<string, number>();
  for (const op of failed) byOutcome.set(`${op.kind} ${op.outcome}`, (byOutcome.get(`${op.kind} ${op.outcome}`) ?? 0) + 1);
  const putMs = ops.filter((op) => op.kind === 'put' && op.ok).map((op) => op.endedAt - op.startedAt);
  const getMs = ops.filter((op) => op.kind === 'get' && op.ok).map((op) => op.endedAt - op.startedAt);
  const retried = clients.reduce((sum, c) => sum + c.retried503, 0);
  return `${ops.length} ops (${retried} 503s retried), ${putMs.length} acked writes (median ${median(putMs)} ms, max ${Math.max(0, ...putMs)} ms), reads median ${median(getMs)} ms, ${failed.length} failed${failed.length ? ` (${[...byOutcome].map(([k, v]) => `${k}: ${v}`).join(', ')})` : ''}`;
}

/** The seed for a test's random choices: `$envName` when set (to replay a run), else a fresh one. Printed. */
/**
 * The seed of a randomized fault test: SEED when set (the one variable that replays a seed, here
 * and in the simulation), else a fresh one. The exact command that replays it is printed at once,
 * and again if the file fails.
 */
export function seedFrom(what: string): number {
  const raw = process.env.SEED;
  const seed = raw !== undefined && raw !== '' ? Number(raw) >>> 0 : (Date.now() ^ (Math.random() * 0x7fffffff)) >>> 0;
  const replay = replayCommand(seed);
  console.log(`# ${what}: seed ${seed} (replay: ${replay})`);
  process.once('exit', (code) => {
    if (code !== 0 || process.exitCode) console.log(`# ${what} failed with seed ${seed}; replay: ${replay}`);
  });
  return seed;
}

/** The command that runs this test file again with `seed`, in its own network namespace as the runner does. */
export function replayCommand(seed: number): string {
  const file = relative(process.cwd(), process.argv[1] ?? '');
  return `SEED=${seed} unshare -n -- node --import tsx ${file}`;
}

/**
 * Entries of a client's metadata (a clock) that no replica at `addresses` has delivered: events
 * the client depends on that are gone from the cluster (it read them from a replica that crashed
 * before it passed them on). Such a client gets 503 everywhere, for ever.
 */
export async function unheldDependencies(addresses: readonly string[], metadata: unknown): Promise<string[]> {
  if (metadata === null || typeof metadata !== 'object') return [];
  const states = await Promise.all(addresses.map(debugState));
  const held: Record<string, number> = {};
  for (const state of states) mergeInto(held, state.clock);
  return Object.entries(metadata as Record<string, number>)
    .filter(([id, n]) => !states.some((state) => satisfiedAt(state, id, n)))
    .map(([id, n]) => `${id}:${n} (cluster holds ${held[id] ?? 0})`);
}

/** Replicas can take long to start on a loaded machine: wait for /health up to a minute. */
export function startPatiently(options: ReplicaOptions): Promise<ReplicaProcess> {
  return startReplica(options, 60_000);
}

/** startCluster with startPatiently, each replica under its uid, all of them in every VIEW. */
export async function startClusterPatiently(addresses: readonly string[], uids: readonly number[], env: Record<string, string> = {}): Promise<ReplicaProcess[]> {
  const replicas: ReplicaProcess[] = [];
  for (const [i, address] of addresses.entries()) replicas.push(await startPatiently({ address, view: addresses, uid: uids[i]!, env }));
  return replicas;
}

/**
 * For a test file's last after hook, once its replicas are stopped: if anything still holds the
 * process open (a replica whose start timed out, a client loop abandoned by a failed assertion),
 * exit anyway a little later, with the exit code uvu set; cluster.ts's exit hook then kills every
 * replica the file started.
 */
export function exitSoon(graceMs = 3000): void {
  setTimeout(() => process.exit(), graceMs).unref();
}

/** Waits until `enough()` holds or `maxMs` passes (a load phase sized by work done, bounded by time). */
export async function until(enough: () => boolean, maxMs: number, everyMs = 50): Promise<void> {
  const deadline = Date.now() + maxMs;
  while (!enough() && Date.now() < deadline) await sleep(everyMs);
}
