import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bundlePath, portBase, ReplicaProcess, runToExit, startReplica, stopAll } from '../support/cluster.ts';
import { debugState, exitSoon, measure, tailLogs, timeUntil, watchdog } from '../support/fault-kit.ts';
import { get, put, request, waitFor } from '../support/http.ts';
import { assertPrivateNamespace } from '../support/netns.ts';

// The disk under a DATA_DIR: one process per DATA_DIR (a second one exits 2 with a clear line);
// a full disk makes writes answer 503 "storage unavailable" while reads go on, and once space is
// freed writes succeed again by themselves, with nothing acknowledged lost.
//
// The full disk is a real one: a 2 MiB tmpfs mounted in a mount namespace of this test's own
// (`unshare -m`, root), held open by a `sleep` so a replica can be started in it again
// (`nsenter -m`); this test reaches the files through /proc/<holder>/root. Nothing is mounted
// where anyone else can see it, and the mount goes away with the holder.

assertPrivateNamespace();
watchdog(120_000, 'durability-disk');

const port = portBase('durability-disk');
const replicas: ReplicaProcess[] = [];
const others = new Set<ChildProcess>();
const tempDirs: string[] = [];

function killOthers(): void {
  for (const child of others) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    try {
      process.kill(child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
process.once('exit', killOthers);

test.after(async () => {
  await stopAll(replicas);
  killOthers();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  exitSoon();
});

test('a second process on the same DATA_DIR exits 2 with one clear line; the first goes on; SIGTERM then exits 0 and frees the DATA_DIR', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvs-locked-'));
  tempDirs.push(dir);
  const first = `127.0.30.1:${port}`;
  const second = `127.0.30.2:${port}`;
  const owner = await startReplica({ address: first, view: [first], env: { DATA_DIR: dir } });
  replicas.push(owner);
  const exit = await runToExit({ SOCKET_ADDRESS: second, VIEW: second, DATA_DIR: dir }, others);
  assert.is(exit.code, 2, `exit code; output: ${exit.stdout}${exit.stderr}`);
  assert.is(exit.stdout, '', 'nothing on stdout');
  const line = exit.stderr.trim();
  assert.not.ok(line.includes('\n'), `one line only, got:\n${line}`);
  assert.ok(line.startsWith(`causal-kvs: DATA_DIR ${dir} is in use by process ${owner.pid}`), `names the DATA_DIR and the pid holding it: ${line}`);
  console.log(`# ${line}`);

  const created = await put(first, 'still-mine', 1);
  assert.is(created.status, 201, `the first process still serves: ${JSON.stringify(created.body)}`);
  await owner.kill('SIGTERM');
  assert.is(owner.child.exitCode, 0, `SIGTERM exits 0:\n${owner.logs()}`);
  assert.not.ok(existsSync(join(dir, 'LOCK')), 'a clean stop removes the LOCK');
  const next = await startReplica({ address: second, view: [second], env: { DATA_DIR: dir } });
  replicas.push(next);
  assert.is((await get(second, 'still-mine')).body.value, 1, 'the next process on the DATA_DIR has the data');
});

test('disk full: writes answer 503 "storage unavailable" while reads go on; space freed, writes succeed again by themselves; nothing acknowledged lost', async () => {
  const mountPoint = mkdtempSync(join(tmpdir(), 'kvs-tmpfs-'));
  tempDirs.push(mountPoint);
  const holder = spawn('unshare', ['-m', '--', 'sh', '-c', `mount -t tmpfs -o size=2m,mode=0755 tmpfs '${mountPoint}' && echo mounted && exec sleep 110`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  others.add(holder);
  let holderOutput = '';
  holder.stdout!.on('data', (chunk) => (holderOutput += chunk));
  holder.stderr!.on('data', (chunk) => (holderOutput += chunk));
  await waitFor('the tmpfs to be mounted', () => {
    if (holder.exitCode !== null) throw new Error(`unshare -m failed: ${holderOutput}`);
    return holderOutput.includes('mounted');
  }, 10_000);
  const inNamespace = (path: string) => `/proc/${holder.pid}/root${join(mountPoint, path)}`;
  // The filler takes about half the space; the DATA_DIR gets the rest.
  const filler = inNamespace('filler');
  writeFileSync(filler, Buffer.alloc(1024 * 1024, 1));

  const address = `127.0.30.3:${port}`;
  const dataDir = join(mountPoint, 'data');
  const startInNamespace = async (): Promise<ReplicaProcess> => {
    // nsenter execs the replica (no fork for a mount namespace alone): the PID is the replica's own.
    const child = spawn('nsenter', ['-t', String(holder.pid), '-m', '--', process.execPath, bundlePath], {
      env: { PATH: process.env.PATH ?? '', SOCKET_ADDRESS: address, VIEW: address, DATA_DIR: dataDir, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    others.add(child);
    const replica = new ReplicaProcess({ address, view: [address] }, child);
    await waitFor(`${address} to answer /health`, async () => {
      if (!replica.running) throw new Error(`replica exited:\n${replica.logs()}`);
      return (await request('GET', address, '/health', undefined, { timeoutMs: 500 })).status === 200;
    }, 30_000);
    return replica;
  };
  let replica = await startInNamespace();
  const incarnation = (await debugState(address)).id;

  // Fill: 16 KiB values, each write to a new key, one client chaining its metadata.
  const value = (n: number) => `${n}:${'v'.repeat(16 * 1024)}`;
  const acked = new Map<string, string>();
  let metadata: unknown = null;
  let refusal: { status: number; body: any } | undefined;
  const fillStarted = Date.now();
  for (let n = 0; n < 1000 && refusal === undefined; n++) {
    const answer = await put(address, `fill-${n}`, value(n), metadata);
    if (answer.status === 200 || answer.status === 201) {
      acked.set(`fill-${n}`, value(n));
      metadata = answer.body['causal-metadata'];
    } else {
      refusal = answer;
    }
  }
  assert.ok(refusal !== undefined, 'the disk never filled up');
  measure(`filling the disk (${acked.size} writes of 16 KiB acknowledged)`, Date.now() - fillStarted);
  assert.is(refusal.status, 503, `a write that cannot be stored: ${JSON.stringify(refusal.body)}`);
  assert.match(refusal.body.error, /^storage unavailable: disk full \(ENOSPC\) \w+ \S+/, `its error says why: ${JSON.stringify(refusal.body)}`);
  assert.ok(acked.size >= 10, `only ${acked.size} writes before the disk was full`);

  // While full: writes are refused at once, reads go on (with the client's metadata too).
  const refused = await put(address, 'while-full', 'x', metadata);
  assert.is(refused.status, 503);
  assert.ok(String(refused.body.error).startsWith('storage unavailable: '), JSON.stringify(refused.body));
  const someKey = [...acked.keys()][acked.size >> 1]!;
  const read = await get(address, someKey, metadata);
  assert.is(read.status, 200, `reads go on: ${JSON.stringify(read.body).slice(0, 200)}`);
  assert.is(read.body.value, acked.get(someKey));
  const state = (await debugState(address)) as unknown as { storage: { unavailable: string | null } };
  assert.ok(state.storage.unavailable?.includes('ENOSPC'), `/debug/state says so: ${JSON.stringify(state.storage)}`);
  const metrics = (await request('GET', address, '/metrics')).body as string;
  assert.match(metrics, /^kvs_storage_unavailable 1$/m, '/metrics says so');

  // Free the space: the replica notices by itself (it retries) and writes succeed again.
  unlinkSync(filler);
  const freedAt = Date.now();
  let after = 0;
  await timeUntil(
    'writes to succeed again',
    async () => {
      const n = after++;
      const answer = await put(address, `after-${n}`, `after ${n}`, metadata);
      if (answer.status !== 200 && answer.status !== 201) return `${answer.status} ${JSON.stringify(answer.body)}`;
      acked.set(`after-${n}`, `after ${n}`);
      metadata = answer.body['causal-metadata'];
      return true;
    },
    10_000,
    100,
  );
  measure('space freed until a write succeeds', Date.now() - freedAt);
  for (let n = after; n < after + 5; n++) {
    const answer = await put(address, `after-${n}`, `after ${n}`, metadata);
    assert.ok(answer.status === 200 || answer.status === 201, `write after the space was freed: ${answer.status} ${JSON.stringify(answer.body)}`);
    acked.set(`after-${n}`, `after ${n}`);
    metadata = answer.body['causal-metadata'];
  }
  assert.is(((await debugState(address)) as unknown as { storage: { unavailable: string | null } }).storage.unavailable, null);
  assert.match((await request('GET', address, '/metrics')).body as string, /^kvs_storage_unavailable 0$/m);
  assert.ok(replica.logs().includes('"event":"storage-unavailable"'), 'the outage is logged');
  assert.ok(replica.logs().includes('"event":"storage-available"'), 'and its end');

  // A crash, a restart on the same DATA_DIR: every acknowledged write is there.
  await replica.kill('SIGKILL');
  replica = await startInNamespace();
  replicas.push(replica);
  assert.is((await debugState(address)).id, incarnation, 'the same life after the restart');
  const missing: string[] = [];
  for (const [key, expected] of acked) {
    const answer = await get(address, key, metadata);
    if (answer.status !== 200 || answer.body.value !== expected) missing.push(`${key}: ${answer.status} ${String(answer.body.value ?? answer.body.error).slice(0, 40)}`);
  }
  assert.equal(missing, [], `acknowledged writes lost:\n${missing.slice(0, 10).join('\n')}\n${tailLogs([replica])}`);
  console.log(`# ${acked.size} acknowledged writes, all read back after the restart`);
  await replica.kill('SIGKILL');
  process.kill(holder.pid!, 'SIGKILL');
});

test.run();
