import { chownSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { portBase, stopAll, type ReplicaProcess } from '../support/cluster.ts';
import {
  checkClientReads,
  checkConvergedValues,
  Client,
  converged,
  debugState,
  exitSoon,
  History,
  hostsOf,
  Load,
  measure,
  Rng,
  seedFrom,
  startPatiently,
  summarize,
  tailLogs,
  timeUntil,
  viewsAre,
  watchdog,
} from '../support/fault-kit.ts';
import { put, sleep } from '../support/http.ts';
import { assertPrivateNamespace } from '../support/netns.ts';

// The whole cluster dies at once (SIGKILL to all three replicas in the same instant, during a
// write load) and starts again on the same DATA_DIRs: every acknowledged write is still there on
// every replica, and every replica comes back as the same life (no new clock entry). Then once
// more, but before the restart one replica's newest segment is cut at a random byte (a torn tail,
// seeded): it says so in its log, keeps its identity, and catches up from its peers.

assertPrivateNamespace();
watchdog(150_000, 'durability-whole-cluster');

const { addresses, uids } = hostsOf(3, portBase('durability-whole-cluster'));
const dataDirs = uids.map((uid) => {
  const dir = mkdtempSync(join(tmpdir(), 'kvs-durable-'));
  chownSync(dir, uid, uid); // each replica runs under its own uid
  return dir;
});
const all: ReplicaProcess[] = [];
const convergeBoundMs = 30_000;
const loadMs = 3000;

test.after(async () => {
  await stopAll(all);
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
  exitSoon();
});

function start(i: number): Promise<ReplicaProcess> {
  return startPatiently({ address: addresses[i]!, view: addresses, uid: uids[i]!, env: { DATA_DIR: dataDirs[i]! } }).then((replica) => {
    all.push(replica);
    return replica;
  });
}

/** SIGKILL to every replica in one synchronous loop (the same instant, as a power cut would), then waits until all are gone. */
async function killAllAtOnce(replicas: readonly ReplicaProcess[]): Promise<void> {
  for (const replica of replicas) if (replica.running) process.kill(replica.pid, 'SIGKILL');
  await Promise.all(replicas.map((replica) => replica.kill('SIGKILL')));
}

/** The set of clock entries (replica lives) any replica has. */
async function clockIds(): Promise<string[]> {
  const ids = new Set<string>();
  for (const state of await Promise.all(addresses.map(debugState))) for (const id of Object.keys(state.clock)) ids.add(id);
  return [...ids].sort();
}

/** The JSON log lines of a replica with this `event`. */
function logEvents(replica: ReplicaProcess, event: string): Record<string, unknown>[] {
  return replica
    .logs()
    .split('\n')
    .filter((line) => line.includes(`"event":"${event}"`))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Offsets at which records start in a segment ([u32 length][u32 CRC][payload], src/storage/record-codec.ts). */
/** Where each record starts, and where the records end: a killed replica's segment goes on with the zeros it is grown ahead with. */
function recordStarts(data: Buffer): { starts: number[]; end: number } {
  const starts: number[] = [];
  let at = 0;
  for (; at + 8 <= data.length && data.readUInt32LE(at) !== 0; at += 8 + data.readUInt32LE(at)) starts.push(at);
  return { starts, end: Math.min(at, data.length) };
}

// One seed for the file (SEED replays it): the load's choices in both tests, the victim and the cut.
const seed = seedFrom('durability-whole-cluster');
const history = new History();
const clients = Array.from({ length: 16 }, (_, i) => new Client(`c${i}`, history));
const keysOf = (client: Client) => Array.from({ length: 4 }, (_, k) => `${client.name}-k${k}`);

async function runLoad(rng: Rng): Promise<Load> {
  return new Load({ clients, rng, target: () => rng.pick(addresses), keys: keysOf, readShare: 0.2, pauseMs: 5 }, 30_000);
}

/** After a restart: converged, every acknowledged write there on every replica, every client's reads causal everywhere. */
async function checkEverythingThere(replicas: readonly ReplicaProcess[], what: string): Promise<void> {
  let convergeMs: number;
  try {
    convergeMs = await timeUntil(`all three to converge (${what})`, converged(addresses), convergeBoundMs, 100);
  } catch (error) {
    throw new Error(`${String(error)}\n${tailLogs(replicas)}`);
  }
  measure(`converged after the restart (${what})`, convergeMs);
  const values = await checkConvergedValues(addresses, history);
  assert.equal(values, [], `${what}: replicas disagree or lost acknowledged writes:\n${values.slice(0, 20).join('\n')}\n${tailLogs(replicas)}`);
  const reads = await checkClientReads(addresses, history, clients, keysOf);
  assert.equal(reads, [], `${what}: reads with the clients' latest metadata failed:\n${reads.slice(0, 20).join('\n')}`);
  assert.equal(history.violations, [], `${what}: clients saw non-causal answers`);
}

test('SIGKILL to all three at once during writes: after a restart on the same DATA_DIRs every acknowledged write is there, as the same lives', async () => {
  const rng = new Rng(seed);
  let replicas = await Promise.all(addresses.map((_, i) => start(i)));
  await timeUntil('the three to see each other', viewsAre(addresses, addresses), 15_000);
  const ids = await Promise.all(addresses.map(async (a) => (await debugState(a)).id));

  const load = await runLoad(rng);
  await sleep(loadMs);
  const livesBefore = await clockIds();
  await killAllAtOnce(replicas);
  await load.stop();
  const acked = history.ackedCount();
  console.log(`# load until the kill: ${summarize(clients)}`);
  assert.ok(acked >= 100, `the load made too few acknowledged writes (${acked})`);

  const restartAt = Date.now();
  replicas = await Promise.all(addresses.map((_, i) => start(i)));
  measure('whole cluster answering /health again', Date.now() - restartAt);
  await checkEverythingThere(replicas, 'after the whole cluster was killed');

  const idsAfter = await Promise.all(addresses.map(async (a) => (await debugState(a)).id));
  assert.equal(idsAfter, ids, 'every replica comes back as the same life (its DATA_DIR incarnation)');
  const livesAfter = await clockIds();
  assert.equal(livesAfter, livesBefore, 'no new clock entry: the restarted replicas carry on their lives');
  for (const replica of replicas) {
    const [recovered] = logEvents(replica, 'storage-recovered');
    assert.ok(recovered !== undefined, `${replica.address} logs one line for its recovery`);
    assert.is(recovered.incarnationSource, 'read', `${replica.address} read its incarnation back`);
    assert.ok((recovered.events as number) > 0, `${replica.address} replayed events: ${JSON.stringify(recovered)}`);
  }
  console.log(`# ${acked} acknowledged writes, all there after the whole cluster was killed and restarted; lives ${livesAfter.join(' ')}`);
});

test('again, with one replica\'s newest segment cut at a random byte: the torn tail is cut off and logged, and it catches up from its peers', async () => {
  const rng = new Rng(seed + 1);
  let replicas = addresses.map((address) => all.filter((r) => r.address === address && r.running).at(-1)!);
  const ids = await Promise.all(addresses.map(async (a) => (await debugState(a)).id));
  const ackedBefore = history.ackedCount();
  const load = await runLoad(rng);
  await sleep(loadMs);
  // The kill comes during the writes. The cut below destroys records that were synced and
  // acknowledged (more than a crash can do: a torn tail is normally a write no one was told about),
  // so only the peers' copies can bring them back: a write counts as held by a peer only once the
  // peer's storage holds it (the 'stored' clock of its answers), so every acknowledged write is on
  // two disks when the three go down together.
  const livesBefore = await clockIds();
  await killAllAtOnce(replicas);
  await load.stop();
  assert.ok(history.ackedCount() - ackedBefore >= 100, `the load made too few acknowledged writes (${history.ackedCount() - ackedBefore})`);

  const victim = rng.int(0, addresses.length - 1);
  const dir = dataDirs[victim]!;
  const segments = readdirSync(dir)
    .filter((name) => /^segment-\d+\.log$/.test(name))
    .sort()
    .filter((name) => statSync(join(dir, name)).size > 0);
  const file = segments.at(-1);
  assert.ok(file !== undefined, `${addresses[victim]} has a segment holding bytes (files: ${readdirSync(dir).join(' ')})`);
  const data = readFileSync(join(dir, file));
  const { starts, end } = recordStarts(data);
  let cut = rng.int(1, end - 1);
  if (starts.includes(cut)) cut += 1; // a cut between records would leave nothing torn to find
  const tornAt = starts.filter((start) => start < cut).at(-1)!;
  truncateSync(join(dir, file), cut);
  console.log(`# cut ${addresses[victim]}'s ${file} from ${data.length} to ${cut} bytes (the record at ${tornAt} is torn; ${starts.length - starts.indexOf(tornAt)} of its ${starts.length} records lost)`);

  // The intact ones first, so the cut one finds a peer to pull its lost writes (its own among them) from.
  const others = addresses.map((_, i) => i).filter((i) => i !== victim);
  const restarted = await Promise.all(others.map((i) => start(i)));
  const cutReplica = await start(victim);
  replicas = addresses.map((address) => [...restarted, cutReplica].find((r) => r.address === address)!);
  await checkEverythingThere(replicas, 'after the torn tail was cut');

  const [torn] = logEvents(cutReplica, 'storage-torn-tail');
  assert.ok(torn !== undefined, `${addresses[victim]} logs the torn tail it cut:\n${tailLogs([cutReplica])}`);
  assert.equal({ file: torn.file, offset: torn.offset, bytesCut: torn.bytesCut }, { file, offset: tornAt, bytesCut: cut - tornAt }, 'the log line names the file and offset');
  const state = (await debugState(addresses[victim]!)) as unknown as { storage: { recovery: { tornTail: unknown; damage: unknown[] } } };
  assert.equal(state.storage.recovery.tornTail, { file, offset: tornAt, bytesCut: cut - tornAt }, '/debug/state shows the torn tail');
  assert.equal(state.storage.recovery.damage, [], 'a torn tail is not damage');
  const idsAfter = await Promise.all(addresses.map(async (a) => (await debugState(a)).id));
  assert.equal(idsAfter, ids, 'every replica, the cut one too, comes back as the same life');
  assert.equal(await clockIds(), livesBefore, 'no new clock entry');
  console.log(`# ${history.ackedCount()} acknowledged writes in all, all there after the torn tail was cut`);
});

test.run();
