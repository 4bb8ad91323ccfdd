// Values and requests at the edges of JSON: a number JSON cannot carry back (1e400), values nested
// deeper than the stack comfortably allows, and a metadata header bigger than Node's header limit.
// Whatever the store decides (refuse with a JSON 4xx, or store and replicate), it must never
// answer 500, never return null as a value, and never stop replicating later writes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startCluster, stopAll, type ReplicaProcess } from '../support/cluster.ts';
import { get, put, request, waitFor, type Answer } from '../support/http.ts';
import { addressesFor, clusterFormed, expectResult, isMetadata } from './common.ts';

const addresses = addressesFor('value-edge-cases', 27);
const [A, B, C] = addresses as [string, string, string];
const replicas: ReplicaProcess[] = [];

test.before(async () => {
  replicas.push(...(await startCluster(addresses)));
  await clusterFormed(addresses);
});

test.after(async () => {
  await stopAll(replicas);
});

/**
 * After `answer` to an edge-case PUT at `writer`: refused with a JSON 4xx, or accepted and
 * replicated. Each test writes at its own replica, so one that stalls replication does not fail
 * the others.
 */
async function refusedOrReplicated(what: string, writer: string, key: string, answer: Answer): Promise<void> {
  const others = addresses.filter((address) => address !== writer);
  assert.ok(answer.status < 500, `${what}: got ${answer.status} ${JSON.stringify(answer.body)}`);
  if (answer.status >= 400) {
    assert.ok(isMetadata(answer.body) && typeof answer.body.error === 'string', `${what}: 4xx without a JSON error`);
  } else {
    const metadata = answer.body['causal-metadata'];
    for (const address of others) {
      let read: Answer | undefined;
      await waitFor(`${what}: ${key} readable at ${address}`, async () => (read = await get(address, key, metadata)).status === 200, 3000);
      assert.is.not(read!.body.value, null, `${what}: a value never comes back as null`);
    }
  }
  // Replication from the writer goes on: a later write there is read elsewhere with its metadata.
  const later = expectResult(await put(writer, `${key}-later`, 'later'), 201, 'created');
  for (const address of others) {
    let read: Answer | undefined;
    await waitFor(`${what}: a later write at ${writer} to reach ${address}`, async () => (read = await get(address, `${key}-later`, later)).status === 200, 3000).catch(() => undefined);
    assert.is(read?.status, 200, `${what}: a later write at ${writer} never reached ${address}: ${JSON.stringify(read?.body)}`);
  }
}

test('a number too large for a double (1e400) is refused or kept, never turned into null, and does not stall replication', async () => {
  const answer = await request('PUT', A, '/kvs/inf', undefined, { rawBody: '{"value": 1e400, "causal-metadata": null}' });
  if (answer.status < 300) {
    const read = await get(A, 'inf', answer.body['causal-metadata']);
    assert.is.not(read.body.value, null, `GET at A returned ${JSON.stringify(read.body)}`);
  }
  await refusedOrReplicated('1e400', A, 'inf', answer);
});

for (const [depth, writer] of [[3000, B], [20_000, C]] as const) {
  test(`a value nested ${depth} deep is refused with a JSON 4xx or replicated; never a 500, never a stall`, async () => {
    const nested = '['.repeat(depth) + ']'.repeat(depth);
    const answer = await request('PUT', writer, `/kvs/deep${depth}`, undefined, { rawBody: `{"value": ${nested}, "causal-metadata": null}` });
    await refusedOrReplicated(`depth ${depth}`, writer, `deep${depth}`, answer);
    assert.is((await request('GET', writer, '/health')).status, 200);
  });
}

test('a moderately nested value (50 levels of objects and arrays) round-trips across replicas', async () => {
  let value: unknown = 'bottom';
  for (let i = 0; i < 50; i++) value = i % 2 ? [value, i] : { level: i, inner: value };
  const m = expectResult(await put(A, 'nested50', value), 201, 'created');
  for (const address of [B, C]) {
    let read: Answer | undefined;
    await waitFor(`nested50 readable at ${address}`, async () => (read = await get(address, 'nested50', m)).status === 200, 5000);
    assert.equal(read!.body.value, value);
  }
});

test('metadata in an X-Causal-Metadata header over the header size limit gets a 4xx with a JSON error', async () => {
  const many: Record<string, number> = {};
  for (let i = 0; i < 2000; i++) many[`127.0.0.1:1/h${i.toString(36)}`] = 1;
  const answer = await request('GET', A, '/kvs/header-big', undefined, { headers: { 'x-causal-metadata': JSON.stringify(many) } });
  assert.ok(answer.status >= 400 && answer.status < 500, `got ${answer.status}`);
  assert.ok(isMetadata(answer.body) && typeof answer.body.error === 'string', `body should be {"error": ...}, got ${JSON.stringify(answer.body)}`);
  assert.is((await request('GET', A, '/health')).status, 200);
});

test.run();
