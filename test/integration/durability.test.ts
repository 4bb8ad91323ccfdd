// DATA_DIR in a real process: /debug/state's `storage` and the kvs_storage_* metrics, a restart on
// the same DATA_DIR (FSYNC=off and batch) that keeps the data and the life, a clean SIGTERM, and
// memory mode as before. Crashes, torn tails and full disks are the fault tests' (test/fault/durability-*).
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { portBase, startReplica, stopAll, type ReplicaProcess } from '../support/cluster.ts';
import { get, put, request } from '../support/http.ts';

const port = portBase('durability');
const replicas: ReplicaProcess[] = [];
const tempDirs: string[] = [];

test.after(async () => {
  await stopAll(replicas);
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

async function start(address: string, env: Record<string, string>): Promise<ReplicaProcess> {
  const replica = await startReplica({ address, view: [address], env }, 20_000);
  replicas.push(replica);
  return replica;
}

const state = async (address: string) => (await request('GET', address, '/debug/state')).body;

test('without DATA_DIR: /debug/state says storage is in memory, and /metrics has no kvs_storage_* metrics', async () => {
  const address = `127.0.27.1:${port}`;
  await start(address, {});
  assert.equal((await state(address)).storage, { mode: 'memory' });
  const metrics = (await request('GET', address, '/metrics')).body as string;
  assert.not.match(metrics, /kvs_storage_/);
  assert.match(metrics, /^kvs_live_keys 0$/m, 'the existing metrics are unchanged');
});

for (const fsync of ['batch', 'off'] as const) {
  test(`FSYNC=${fsync}: the data and the life survive a kill -9 and a restart on the same DATA_DIR; storage shows in /debug/state and /metrics`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kvs-durability-'));
    tempDirs.push(dir);
    const address = `127.0.27.${fsync === 'batch' ? 2 : 3}:${port}`;
    const env = { DATA_DIR: dir, FSYNC: fsync };
    let replica = await start(address, env);
    let metadata: unknown = null;
    for (let n = 0; n < 20; n++) {
      const answer = await put(address, `k${n % 5}`, n, metadata);
      assert.ok(answer.status === 200 || answer.status === 201, JSON.stringify(answer.body));
      metadata = answer.body['causal-metadata'];
    }
    assert.ok((await put(address, 'gone', 1, metadata)).status === 201);
    const deleted = await request('DELETE', address, '/kvs/gone', { 'causal-metadata': metadata });
    assert.is(deleted.status, 200);
    metadata = deleted.body['causal-metadata'];
    const before = await state(address);
    assert.is(before.storage.mode, 'disk');
    assert.is(before.storage.dir, dir);
    assert.is(before.storage.fsync, fsync);
    assert.is(before.storage.unavailable, null);
    assert.ok(before.storage.diskBytes > 0 && before.storage.segments === 1, JSON.stringify(before.storage));
    if (fsync === 'batch') assert.ok(before.storage.fsyncs.count > 0, 'fsyncs are counted');
    else assert.is(before.storage.fsyncs.count, 0, 'FSYNC=off never syncs a segment');
    const metrics = (await request('GET', address, '/metrics')).body as string;
    for (const name of [
      'kvs_storage_disk_bytes',
      'kvs_storage_segments',
      'kvs_storage_unavailable',
      'kvs_storage_recovery_duration_seconds',
      'kvs_storage_recovery_records_replayed',
      'kvs_storage_recovery_torn_bytes_cut',
      'kvs_storage_fsync_seconds_count',
    ]) {
      assert.match(metrics, new RegExp(`^${name} \\S+$`, 'm'), `${name} in /metrics`);
    }
    assert.match(metrics, /^kvs_storage_unavailable 0$/m);
    assert.match(metrics, /^kvs_storage_fsync_seconds_bucket\{le="\+Inf"\} \d+$/m);

    await replica.kill('SIGKILL');
    replica = await start(address, env);
    const after = await state(address);
    assert.is(after.id, before.id, 'the same life: the incarnation is the DATA_DIR\'s');
    assert.equal(after.clock, before.clock, 'no new clock entry, nothing lost');
    assert.ok(after.storage.recovery.records > 0, JSON.stringify(after.storage.recovery));
    assert.ok(replica.logs().includes('"event":"storage-recovered"'), 'one log line for the recovery');
    for (let k = 0; k < 5; k++) {
      const answer = await get(address, `k${k}`, metadata);
      assert.is(answer.status, 200, `k${k}: ${JSON.stringify(answer.body)}`);
      assert.is(answer.body.value, 15 + k);
    }
    assert.is((await get(address, 'gone', metadata)).status, 404, 'a delete survives too');
    const recovered = (await request('GET', address, '/metrics')).body as string;
    assert.match(recovered, /^kvs_storage_recovery_records_replayed [1-9]\d*$/m);

    await replica.kill('SIGTERM');
    assert.is(replica.child.exitCode, 0, `SIGTERM exits 0:\n${replica.logs()}`);
    assert.not.ok(readdirSync(dir).includes('LOCK'), 'a clean stop removes the LOCK');
  });
}

test.run();
