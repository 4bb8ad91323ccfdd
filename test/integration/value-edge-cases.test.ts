// Values and requests at the edges of JSON: a number JSON cannot carry back (1e400), values nested
// deeper than the stack comfortably allows, and a metadata header bigger than Node's header limit.
// Whatever the store decides (refuse with a JSON 4xx, or store and replicate), it must never
// answer 500, never return null as a value, and never stop replicating later writes.
// And bytes that are not UTF-8: refused with a 400 that changes nothing (never stored as U+FFFD),
// on every JSON body; valid non-ASCII text round-trips exactly.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startCluster, stopAll, type ReplicaProcess } from '../support/cluster.ts';
import { get, put, request, waitFor, type Answer } from '../support/http.ts';
import { addressesFor, clusterFormed, expectError, expectResult, isMetadata, keyMissing } from './common.ts';

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

test('a value whose objects have __proto__ members is stored as given and replicates (test/unit/http-errors checks that no prototype changes)', async () => {
  const valueText = '{"__proto__":{"polluted":true},"list":[{"__proto__":null},1],"a":"b"}';
  const answer = await request('PUT', B, '/kvs/proto', undefined, { rawBody: `{"value": ${valueText}, "causal-metadata": null}` });
  expectResult(answer, 201, 'created');
  for (const address of addresses) {
    let read: Answer | undefined;
    await waitFor(`proto readable at ${address}`, async () => (read = await get(address, 'proto', answer.body['causal-metadata'])).status === 200, 3000);
    assert.is(JSON.stringify(read!.body.value), valueText, `the value at ${address}`);
  }
  await refusedOrReplicated('__proto__ members', B, 'proto', answer);
});

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

const state = async (address: string) => (await request('GET', address, '/debug/state')).body;

/** `before`, the bytes `invalid`, then `after`: a body that is not UTF-8 only because of `invalid`. */
const withBytes = (before: string, invalid: number[], after: string) => Buffer.concat([Buffer.from(before), Buffer.from(invalid), Buffer.from(after)]);

/** Byte sequences UTF-8 forbids, each inside an otherwise valid JSON string. */
const invalidUtf8: [string, number[]][] = [
  ['a raw 0xFF byte', [0xff]],
  ['a truncated 3-byte sequence (E4 B8, the start of 世)', [0xe4, 0xb8]],
  ['a lone continuation byte', [0x80]],
  ['an overlong encoding of "/"', [0xc0, 0xaf]],
  ['an encoded UTF-16 surrogate', [0xed, 0xa0, 0x80]],
  ['a truncated 4-byte sequence at the very end of the string', [0xf0, 0x9f, 0x98]],
];

test('a PUT whose body is not valid UTF-8 is a 400 JSON error and creates nothing', async () => {
  const clock = (await state(A)).clock;
  for (const [what, bytes] of invalidUtf8) {
    const answer = await request('PUT', A, '/kvs/not-utf8', undefined, { rawBody: withBytes('{"value": "a', bytes, 'b", "causal-metadata": null}') });
    expectError(answer, what, 400);
    assert.match(answer.body.error, /UTF-8/, `${what}: the error should say what is wrong: ${answer.body.error}`);
  }
  const read = await get(A, 'not-utf8');
  assert.is(read.status, 404, `the key was never created: ${JSON.stringify(read.body)}`);
  assert.is(read.body.error, keyMissing.error);
  assert.equal((await state(A)).clock, clock, 'no event was made');
});

test('a PUT that is not valid UTF-8 leaves the previous value as it was, at every replica', async () => {
  const m = expectResult(await put(B, 'kept', 'before: 世界'), 201, 'created');
  for (const [what, bytes] of invalidUtf8) {
    const answer = await request('PUT', B, '/kvs/kept', undefined, { rawBody: withBytes('{"value": "after ', bytes, `", "causal-metadata": ${JSON.stringify(m)}}`) });
    expectError(answer, what, 400);
  }
  // Invalid bytes anywhere in the body, even in a field the store does not read, refuse the whole body.
  expectError(await request('PUT', B, '/kvs/kept', undefined, { rawBody: withBytes('{"value": "ok", "note": "', [0xff], '"}') }), 'invalid bytes in an unused field', 400);
  for (const address of addresses) {
    let read: Answer | undefined;
    await waitFor(`kept readable at ${address}`, async () => (read = await get(address, 'kept', m)).status === 200, 3000);
    expectResult(read!, 200, 'found', `GET at ${address}`, 'before: 世界');
    assert.equal(read!.body['causal-metadata'], m, `GET at ${address}: no newer write to the key`);
  }
});

test('GET and DELETE bodies that are not valid UTF-8 are 400s too, and the DELETE deletes nothing', async () => {
  const m = expectResult(await put(C, 'undeleted', 1), 201, 'created');
  expectError(await request('GET', C, '/kvs/undeleted', undefined, { rawBody: withBytes('{"causal-metadata": null, "x": "', [0xfe], '"}') }), 'GET', 400);
  expectError(await request('DELETE', C, '/kvs/undeleted', undefined, { rawBody: withBytes('{"causal-metadata": null, "x": "', [0xc3], '"}') }), 'DELETE', 400);
  expectResult(await get(C, 'undeleted', m), 200, 'found', 'after the refused DELETE', 1);
});

test('view changes and replica-to-replica bodies that are not valid UTF-8 are refused and change nothing', async () => {
  const view = (await request('GET', A, '/view')).body;
  expectError(await request('PUT', A, '/view', undefined, { rawBody: withBytes('{"socket-address": "127.0.0.1:1', [0xff], '"}') }), 'PUT /view', 400);
  expectError(await request('DELETE', A, '/view', undefined, { rawBody: withBytes(`{"socket-address": "${B}", "x": "`, [0xff], '"}') }), 'DELETE /view', 400);
  assert.equal((await request('GET', A, '/view')).body, view, 'the view is unchanged');

  // A well-formed push of one event from a replica life that does not exist, but with a byte in its
  // value that is not UTF-8: it must not be applied (with the byte replaced) at the receiver.
  const origin = '127.0.0.1:1/utf8test';
  const push = (value: Buffer) =>
    Buffer.concat([
      Buffer.from(`{"from": "127.0.0.1:1", "incarnation": "utf8test", "events": [{"type": "put", "origin": "${origin}", "seq": 1, "key": "pushed", "clock": {"${origin}": 1}, "value": "`),
      value,
      Buffer.from('"}]}'),
    ]);
  const clock = (await state(A)).clock;
  expectError(await request('POST', A, '/internal/events', undefined, { rawBody: push(Buffer.from([0x61, 0xff])) }), 'POST /internal/events', 400);
  const stream = await request('POST', A, '/internal/event-stream', undefined, { rawBody: Buffer.concat([push(Buffer.from([0x61, 0xe4, 0xb8])), Buffer.from('\n')]) });
  assert.is(stream.status, 200);
  assert.equal(stream.body, { error: 'push is not valid UTF-8', status: 400 }, `the push's answer line: ${JSON.stringify(stream.body)}`);
  assert.equal((await state(A)).clock, clock, 'no event was applied');
  const read = await get(A, 'pushed');
  assert.is(read.status, 404, `the pushed key was never created: ${JSON.stringify(read.body)}`);
});

test('valid non-ASCII text (emoji, CJK, combining marks, a literal U+FFFD) round-trips exactly across replicas', async () => {
  const values: [string, unknown][] = [
    ['emoji', '😀 👩🏽‍💻 🇫🇷'],
    ['CJK', '世界 こんにちは 안녕하세요'],
    ['combining', 'e\u0301 a\u0308 ñ'],
    ['replacement character sent as valid UTF-8', 'before \uFFFD after'],
    ['non-ASCII everywhere', { '键': ['值', '😀', { 'ключ': 'значение' }], 'ascii': 'plain' }],
  ];
  let m: unknown = null;
  for (const [what, value] of values) {
    const key = `text-${what.split(' ')[0]}`;
    m = expectResult(await put(A, key, value, m), 201, 'created', what);
    for (const address of addresses) {
      let read: Answer | undefined;
      await waitFor(`${what} readable at ${address}`, async () => (read = await get(address, key, m)).status === 200, 3000);
      assert.equal(read!.body.value, value, `${what} at ${address}`);
    }
  }
  // A body with a UTF-8 byte order mark in front is read as the JSON after it.
  const bom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify({ value: '中文 ✓', 'causal-metadata': m }))]);
  m = expectResult(await request('PUT', A, '/kvs/text-bom', undefined, { rawBody: bom }), 201, 'created', 'body with a BOM');
  expectResult(await get(B, 'text-bom', m), 200, 'found', 'body with a BOM, read at B', '中文 ✓');
  // Non-ASCII keys too (percent-encoded UTF-8 in the path).
  m = expectResult(await put(A, 'ключ-键-🔑', 'v', m), 201, 'created', 'non-ASCII key');
  expectResult(await get(C, 'ключ-键-🔑', m), 200, 'found', 'non-ASCII key at C', 'v');
});

test.run();
