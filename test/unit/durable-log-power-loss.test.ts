// The durable log under random appends, flushes and snapshots, with faults injected at random
// (ENOSPC, EIO, EMFILE on writes, fdatasyncs, truncates, opens, renames, unlinks and directory
// syncs), over a file system that keeps only what was synced (power-loss-fs.ts); then a power loss,
// or a kill -9, at a random instant, and a recovery. Every flush answered ok must come back, the
// events recovered must be a contiguous prefix of those appended (nothing accepted after a hole),
// and a snapshot must hold each key's winner at its clock. A failure names its seed; TRACE=1 prints
// the trace of a seed that lost an acknowledged flush. POWER_LOSS_SEEDS (100) seeds per test.
// (Written by a review helper. Checked: with the log no longer writing its bytes again after a
// failed fdatasync, 2 of the 300 default runs fail, 6 of 600 with POWER_LOSS_SEEDS=200.)
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { KvEvent } from '../../events/kv-event.ts';
import type { VectorClock } from '../../events/vector-clock.ts';
import { DurableLog } from '../../src/storage/durable-log.ts';
import { captureLog, origin, put } from './durable-log-fixtures.ts';
import { MemFs, type MemOp } from './power-loss-fs.ts';

const dir = '/virtual/data';
const seeds = Number(process.env.POWER_LOSS_SEEDS ?? 100);

/** xorshift32: a seed gives the same run every time. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

const failCodes: Record<MemOp, string> = { write: 'ENOSPC', datasync: 'EIO', sync: 'EIO', open: 'EMFILE', rename: 'EIO', unlink: 'EIO', truncate: 'EIO', dirsync: 'EIO' };

/**
 * 'power': only synced bytes survive; 'partial': some unsynced pages reach the disk too, in any
 * order (recovery may then report damage, conservatively, but must still keep every acknowledged
 * flush); 'kill': everything handed to the OS survives. Returns a problem, or undefined.
 */
async function runOne(seed: number, mode: 'power' | 'kill' | 'partial', fsync: 'batch' | 'off' = 'batch'): Promise<string | undefined> {
  const random = rng(seed);
  const mem = new MemFs(dir);
  const { log, lines } = captureLog();
  const trace: string[] = [];
  const opened = await DurableLog.open(dir, {
    fsync,
    log,
    incarnation: () => 'inc1',
    fs: mem.fs,
    segmentBytesMax: 4096 + Math.floor(random() * 8192),
    snapshotBytesMin: Math.floor(random() * 6000),
    queueBytesMax: 4096 + Math.floor(random() * 20000),
    retryMs: 1,
    closeTimeoutMs: 200,
  });
  const storage = opened.storage;
  const faultRate = random() * 0.15;
  mem.fail = (op, file) => {
    const code = random() < faultRate ? failCodes[op] : undefined;
    trace.push(`${op} ${file}${code === undefined ? '' : ` FAIL ${code}`}`);
    return code;
  };
  const appended: KvEvent[] = [];
  const winners = new Map<string, KvEvent>();
  let seq = 0;
  let acked = 0;
  const steps = 20 + Math.floor(random() * 200);
  let crashed: MemFs | undefined;
  let ackedAtCrash = 0;
  const crash = (): MemFs => (mode === 'power' ? mem.powerLoss() : mode === 'partial' ? mem.powerLoss(random) : mem.processCrash());
  for (let step = 0; step < steps && crashed === undefined; step++) {
    const r = random();
    if (r < 0.5) {
      const batch: KvEvent[] = [];
      for (let i = 1 + Math.floor(random() * 3); i > 0; i--) {
        const event = put(++seq, `k${Math.floor(random() * 8)}`, 'x'.repeat(Math.floor(random() * 300)));
        batch.push(event);
        appended.push(event);
        winners.set(event.key, event);
      }
      storage.append(batch);
      trace.push(`append ${batch[0]!.seq}..${seq}`);
    } else if (r < 0.8) {
      const target = seq;
      trace.push(`flush ${target}`);
      storage.flush((error) => {
        trace.push(`flush ${target} -> ${error?.message ?? 'ok'}`);
        if (error === undefined) acked = Math.max(acked, target);
      });
    } else if (r < 0.9) {
      if (storage.wantsSnapshot() || random() < 0.3) {
        const clock = Object.freeze(seq === 0 ? {} : { [origin]: seq }) as VectorClock;
        storage.snapshot({ clock, entries: [...winners.values()], retired: null });
        trace.push(`snapshot at ${seq}`);
      }
    } else {
      for (let i = Math.floor(random() * 6); i > 0; i--) await new Promise((resolve) => (random() < 0.5 ? setImmediate(resolve) : setTimeout(resolve, 1)));
    }
    if (random() < 0.02) {
      crashed = crash();
      ackedAtCrash = acked;
      trace.push('CRASH');
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  if (crashed === undefined) {
    crashed = crash();
    ackedAtCrash = acked;
  }
  mem.fail = undefined;
  await storage.close();

  const reopened = await DurableLog.open(dir, { fsync, log: captureLog().log, incarnation: () => 'inc2', fs: crashed.fs });
  await reopened.storage.close();
  const { state, recovery } = reopened;
  if (recovery.damage.length > 0 && mode !== 'partial') return `seed ${seed}: damage reported after a ${mode}: ${JSON.stringify(recovery.damage)}`;
  let next = (state.snapshot?.clock[origin] ?? 0) + 1;
  for (const event of state.events) {
    if (event.seq !== next) return `seed ${seed}: recovered seq ${event.seq} where ${next} was expected (snapshot at ${state.snapshot?.clock[origin] ?? 0})`;
    if (JSON.stringify(event) !== JSON.stringify(appended[event.seq - 1])) return `seed ${seed}: event ${event.seq} differs`;
    next++;
  }
  const have = next - 1;
  if (have < ackedAtCrash) {
    if (process.env.TRACE !== undefined) console.log([...trace, ...lines.map((line) => JSON.stringify(line)), `RECOVERY ${JSON.stringify(recovery)}`].join('\n'));
    return `seed ${seed}: ${mode}, FSYNC=${fsync}: acknowledged up to seq ${ackedAtCrash}, recovered only up to ${have}`;
  }
  if (state.snapshot !== undefined) {
    const at = state.snapshot.clock[origin] ?? 0;
    const expected = new Map<string, KvEvent>();
    for (const event of appended.slice(0, at)) expected.set(event.key, event);
    for (const entry of state.snapshot.entries) {
      if (JSON.stringify(expected.get(entry.key)) !== JSON.stringify(entry)) return `seed ${seed}: snapshot entry ${entry.key} is not the winner at ${at}`;
    }
  }
  return undefined;
}

async function problemsOf(run: (seed: number) => Promise<string | undefined>): Promise<string[]> {
  const problems: string[] = [];
  for (let seed = 1; seed <= seeds; seed++) {
    const problem = await run(seed);
    if (problem !== undefined) problems.push(problem);
  }
  return problems;
}

test('power loss at a random instant: every acknowledged flush survives (FSYNC=batch)', async () => {
  const problems = await problemsOf((seed) => runOne(seed, 'power'));
  assert.equal(problems.slice(0, 10), [], `${problems.length} failing seeds`);
});

test('power loss where some unsynced pages reach the disk: acknowledged flushes survive, nothing after a hole is accepted', async () => {
  const problems = await problemsOf((seed) => runOne(seed, 'partial'));
  assert.equal(problems.slice(0, 10), [], `${problems.length} failing seeds`);
});

test('kill -9 at a random instant: every acknowledged flush survives (FSYNC=off and batch)', async () => {
  const problems = await problemsOf(async (seed) => (await runOne(seed, 'kill', 'off')) ?? (await runOne(seed, 'kill', 'batch')));
  assert.equal(problems.slice(0, 10), [], `${problems.length} failing seeds`);
});

test.run();
