// Every row of the SPEC's /kvs table against a real 3-replica cluster: exact statuses and bodies,
// values returned exactly as given, and every "no dependencies" form of causal-metadata.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { stopAll } from '../support/cluster.ts';
import { del, get, put, request } from '../support/http.ts';
import {
  addressesFor,
  clusterFormed,
  deps503,
  expectAnswer,
  expectResult,
  isMetadata,
  keyMissing,
  startReplica,
  unsatisfiable,
  type ReplicaProcess,
} from './common.ts';

const addresses = addressesFor('kvs-api', 21);
const [A, B, C] = addresses as [string, string, string];
const replicas: ReplicaProcess[] = [];

test.before(async () => {
  // C answers 503 at once (CAUSAL_WAIT_MS=0); A and B wait the default bounded time first.
  replicas.push(await startReplica({ address: A, view: addresses }));
  replicas.push(await startReplica({ address: B, view: addresses }));
  replicas.push(await startReplica({ address: C, view: addresses, env: { CAUSAL_WAIT_MS: '0' } }));
  await clusterFormed(addresses);
});

test.after(async () => {
  await stopAll(replicas);
});

/** A 404 is {"error": "Key does not exist"}, plus (ext) an optional causal-metadata object. */
function expect404(answer: { status: number; body: any }, what: string): void {
  assert.is(answer.status, 404, `${what}: got ${answer.status} ${JSON.stringify(answer.body)}`);
  const { 'causal-metadata': metadata, ...rest } = answer.body;
  assert.equal(rest, keyMissing, `${what}: got ${JSON.stringify(answer.body)}`);
  if (metadata !== undefined) assert.ok(isMetadata(metadata), `${what}: 404 metadata should be an object`);
}

test('PUT of a new key answers 201 created with metadata; again answers 200 replaced', async () => {
  const m1 = expectResult(await put(A, 'new-key', 'v1', null), 201, 'created', 'first PUT');
  const m2 = expectResult(await put(A, 'new-key', 'v2', m1), 200, 'replaced', 'second PUT');
  expectResult(await get(A, 'new-key', m2), 200, 'found', 'GET at A', 'v2');
  // The metadata sent back works at another replica too.
  expectResult(await get(B, 'new-key', m2), 200, 'found', 'GET at B', 'v2');
  expectResult(await put(B, 'new-key', 'v3', m2), 200, 'replaced', 'PUT at B');
});

test('PUT without a value answers 400 "PUT request does not specify a value" and creates nothing', async () => {
  const noValue = { error: 'PUT request does not specify a value' };
  expectAnswer(await request('PUT', A, '/kvs/no-value', { 'causal-metadata': null }), 400, noValue, 'no value field');
  expectAnswer(await request('PUT', A, '/kvs/no-value', { value: null, 'causal-metadata': null }), 400, noValue, 'value null');
  expectAnswer(await request('PUT', A, '/kvs/no-value', {}), 400, noValue, 'empty object');
  expectAnswer(await request('PUT', A, '/kvs/no-value'), 400, noValue, 'empty body');
  expect404(await get(A, 'no-value'), 'GET after refused PUTs');
});

test('PUT with value null on an existing key answers 400 and keeps the old value', async () => {
  const m = expectResult(await put(A, 'keep-me', 7), 201, 'created');
  expectAnswer(await put(A, 'keep-me', null, m), 400, { error: 'PUT request does not specify a value' });
  expectResult(await get(A, 'keep-me', m), 200, 'found', 'GET', 7);
});

test('a key of 51 characters is 400 "Key is too long"; 50 characters is fine', async () => {
  expectAnswer(await put(A, 'k'.repeat(51), 1), 400, { error: 'Key is too long' }, '51 chars');
  const m = expectResult(await put(A, 'k'.repeat(50), 1), 201, 'created', '50 chars');
  expectResult(await get(B, 'k'.repeat(50), m), 200, 'found', 'GET 50 chars', 1);
  // Characters, not bytes: 50 two-byte characters are still 50 characters.
  expectResult(await put(A, 'é'.repeat(50), 'accent'), 201, 'created', '50 accented chars');
  expectAnswer(await put(A, 'é'.repeat(51), 'accent'), 400, { error: 'Key is too long' }, '51 accented chars');
});

test('GET and DELETE of a key over 50 characters are 404 "Key does not exist" (no such key can exist)', async () => {
  expect404(await get(A, 'k'.repeat(51)), 'GET 51 chars');
  expect404(await del(B, 'k'.repeat(51)), 'DELETE 51 chars');
});

test('GET of a key never written is 404 "Key does not exist"', async () => {
  expect404(await get(A, 'never-written'), 'at A');
  expect404(await get(B, 'never-written'), 'at B');
  expect404(await get(C, 'never-written'), 'at C');
});

test('DELETE of an existing key answers 200 deleted; afterwards GET and DELETE are 404; PUT creates it again', async () => {
  const m1 = expectResult(await put(A, 'doomed', 'x'), 201, 'created');
  const m2 = expectResult(await del(B, 'doomed', m1), 200, 'deleted', 'DELETE');
  expect404(await get(C, 'doomed', m2), 'GET after delete at C');
  expect404(await get(A, 'doomed', m2), 'GET after delete at A');
  expect404(await del(A, 'doomed', m2), 'DELETE again');
  expectResult(await put(C, 'doomed', 'back', m2), 201, 'created', 'PUT after delete');
});

test('DELETE of a key never written is 404 "Key does not exist"', async () => {
  expect404(await del(A, 'never-deleted'), 'DELETE');
  expect404(await get(A, 'never-deleted'), 'GET afterwards');
});

test('dependencies not yet applied: PUT, GET and DELETE answer 503 with the exact body at once (CAUSAL_WAIT_MS=0)', async () => {
  const m = expectResult(await put(A, 'dep-key', 'old'), 201, 'created');
  const started = Date.now();
  expectAnswer(await put(C, 'dep-key', 'new', unsatisfiable), 503, deps503, 'PUT');
  expectAnswer(await get(C, 'dep-key', unsatisfiable), 503, deps503, 'GET');
  expectAnswer(await del(C, 'dep-key', unsatisfiable), 503, deps503, 'DELETE');
  expectAnswer(await get(C, 'never-seen', unsatisfiable), 503, deps503, 'GET of a missing key');
  assert.ok(Date.now() - started < 1500, `immediate 503s took ${Date.now() - started} ms`);
  // Nothing changed: the old value is still there everywhere.
  for (const replica of addresses) expectResult(await get(replica, 'dep-key', m), 200, 'found', `GET at ${replica}`, 'old');
});

test('a replica with the default CAUSAL_WAIT_MS waits a bounded time, then answers the same 503', async () => {
  const started = Date.now();
  expectAnswer(await get(A, 'dep-key', unsatisfiable, { timeoutMs: 8000 }), 503, deps503, 'GET after waiting');
  assert.ok(Date.now() - started < 6000, `bounded wait took ${Date.now() - started} ms`);
});

test('values come back exactly as given: numbers stay numbers, strings stay strings, structures round-trip', async () => {
  const values: [string, unknown][] = [
    ['num-1', 1],
    ['str-1', '1'],
    ['zero', 0],
    ['float', 1.5],
    ['negative', -42],
    ['empty-string', ''],
    ['string-null', 'null'],
    ['true', true],
    ['false', false],
    ['object', { a: 1, b: '1', c: [true, null, { d: 'e' }] }],
    ['empty-object', {}],
    ['array', [1, '1', false, null, [2]]],
    ['empty-array', []],
    ['unicode', 'grüße 🌍 "quoted" \\ slash'],
  ];
  let metadata: unknown = null;
  for (const [i, [key, value]] of values.entries()) {
    metadata = expectResult(await put(addresses[i % 3]!, key, value, metadata), 201, 'created', `PUT ${key}`);
  }
  for (const [i, [key, value]] of values.entries()) {
    const answer = await get(addresses[(i + 1) % 3]!, key, metadata);
    expectResult(answer, 200, 'found', `GET ${key}`, value);
    assert.is(typeof answer.body.value, typeof value, `${key} type`);
  }
});

test('missing, null, {}, "" and "null" metadata all mean "no dependencies" on PUT, GET and DELETE', async () => {
  const forms: [string, Record<string, unknown>][] = [
    ['missing', {}],
    ['null', { 'causal-metadata': null }],
    ['{}', { 'causal-metadata': {} }],
    ['""', { 'causal-metadata': '' }],
    ['"null"', { 'causal-metadata': 'null' }],
  ];
  for (const [name, form] of forms) {
    const key = `forms-${name.replace(/\W/g, '') || 'x'}-${forms.findIndex(([n]) => n === name)}`;
    expectResult(await request('PUT', C, `/kvs/${key}`, { value: name, ...form }), 201, 'created', `PUT with ${name}`);
    expectResult(await request('PUT', C, `/kvs/${key}`, { value: name + '!', ...form }), 200, 'replaced', `PUT again with ${name}`);
    expectResult(await request('GET', C, `/kvs/${key}`, form), 200, 'found', `GET with ${name}`, name + '!');
    expectResult(await request('DELETE', C, `/kvs/${key}`, form), 200, 'deleted', `DELETE with ${name}`);
    expect404(await request('GET', C, `/kvs/${key}`, form), `GET after DELETE with ${name}`);
    expect404(await request('GET', C, '/kvs/forms-never', form), `GET of a missing key with ${name}`);
  }
});

test('GET and DELETE with no body at all count as an empty body', async () => {
  const m = expectResult(await put(C, 'no-body', 'here'), 201, 'created');
  assert.ok(m);
  const got = await request('GET', C, '/kvs/no-body', undefined, { headers: { 'content-type': '' } });
  expectResult(got, 200, 'found', 'GET without body', 'here');
  expectResult(await request('DELETE', C, '/kvs/no-body'), 200, 'deleted', 'DELETE without body');
});

test.run();
