// A replica started after the others (same VIEW) ends with all the data and in every view; so does
// a brand-new replica that names the cluster in its VIEW. Small snapshot chunks force a multi-chunk pull.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startReplica, stopAll, type ReplicaProcess } from '../support/cluster.ts';
import { del, get, put, waitFor, type Answer } from '../support/http.ts';
import { addressesFor, clusterFormed, expectResult } from './common.ts';

const all = addressesFor('late-join', 25, 4);
const addresses = all.slice(0, 3);
const [A, B, C] = addresses as [string, string, string];
const D = all[3]!;
const env = { SNAPSHOT_CHUNK_KEYS_MAX: '7' };
const replicas: ReplicaProcess[] = [];

test.after(async () => {
  await stopAll(replicas);
});

/** GET with the client's metadata, retried while the replica answers 503 (bounded). */
async function read(address: string, key: string, metadata: unknown): Promise<Answer> {
  let last: Answer | undefined;
  await waitFor(`GET ${key} at ${address}`, async () => (last = await get(address, key, metadata)).status !== 503, 8000);
  return last!;
}

const expected = new Map<string, unknown>();
let metadata: unknown = null;

test('two replicas of a VIEW of three serve writes while the third has not started', async () => {
  replicas.push(await startReplica({ address: A, view: addresses, env }));
  replicas.push(await startReplica({ address: B, view: addresses, env }));
  for (let i = 0; i < 40; i++) {
    const key = `key${i}`;
    const value = i % 3 === 0 ? { n: i, tags: ['late', i] } : i % 3 === 1 ? i : String(i);
    metadata = expectResult(await put(i % 2 ? A : B, key, value, metadata), 201, 'created', `PUT ${key}`);
    expected.set(key, value);
  }
  for (let i = 0; i < 40; i += 5) {
    metadata = expectResult(await put(A, `key${i}`, `replaced${i}`, metadata), 200, 'replaced');
    expected.set(`key${i}`, `replaced${i}`);
  }
  for (let i = 1; i < 40; i += 9) {
    metadata = expectResult(await del(B, `key${i}`, metadata), 200, 'deleted');
    expected.set(`key${i}`, undefined);
  }
});

test('the third replica started late with the same VIEW gets all the data, and all views hold all three', async () => {
  replicas.push(await startReplica({ address: C, view: addresses, env }));
  await clusterFormed(addresses);
  for (const [key, value] of expected) {
    const answer = await read(C, key, metadata);
    if (value === undefined) assert.is(answer.status, 404, `${key} was deleted: ${JSON.stringify(answer.body)}`);
    else expectResult(answer, 200, 'found', `GET ${key} at C`, value);
  }
  // Without metadata too: a fresh client reading at C sees the same data.
  await waitFor('C to serve every key to a client with no metadata', async () => {
    for (const [key, value] of expected) {
      const answer = await get(C, key, null);
      if (value === undefined ? answer.status !== 404 : JSON.stringify(answer.body.value) !== JSON.stringify(value)) return false;
    }
    return true;
  }, 5000);
});

test('the late replica takes part in replication both ways', async () => {
  const fromC = expectResult(await put(C, 'from-c', 'c', metadata), 201, 'created');
  for (const address of [A, B]) expectResult(await read(address, 'from-c', fromC), 200, 'found', `GET from-c at ${address}`, 'c');
  const fromA = expectResult(await put(A, 'from-a', 'a', fromC), 201, 'created');
  expectResult(await read(C, 'from-a', fromA), 200, 'found', 'GET from-a at C', 'a');
  metadata = fromA;
});

test('a brand-new replica naming the cluster and itself in VIEW joins every view with all the data', async () => {
  replicas.push(await startReplica({ address: D, view: all, env }));
  await clusterFormed(all);
  for (const [key, value] of expected) {
    const answer = await read(D, key, metadata);
    if (value === undefined) assert.is(answer.status, 404, `${key} at D: ${JSON.stringify(answer.body)}`);
    else expectResult(answer, 200, 'found', `GET ${key} at D`, value);
  }
  expectResult(await read(D, 'from-a', metadata), 200, 'found', 'GET from-a at D', 'a');
});

test.run();
