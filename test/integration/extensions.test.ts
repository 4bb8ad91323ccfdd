// The SPEC's (ext) rows: metadata in the X-Causal-Metadata header, 404s that carry metadata, bad
// input that gets a JSON 4xx and changes nothing, body limits, unknown paths, /health and /debug.
import { randomBytes } from 'node:crypto';
import { Agent, request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startReplica, stopAll, type ReplicaProcess } from '../support/cluster.ts';
import { del, get, put, request, waitFor, type Answer } from '../support/http.ts';
import { addressesFor, clusterFormed, deps503, expectAnswer, expectError, expectResult, isMetadata, keyMissing, unsatisfiable } from './common.ts';

const addresses = addressesFor('extensions', 23);
const [A, B, C] = addresses as [string, string, string];
const replicas: ReplicaProcess[] = [];

// /debug/log shows the operation log, and stable events are compacted out of it (every second by
// default): compact rarely here so the events a test just wrote are still there to filter.
const env = { COMPACTION_INTERVAL_MS: '600000' };

test.before(async () => {
  replicas.push(await startReplica({ address: A, view: addresses, env }));
  replicas.push(await startReplica({ address: B, view: addresses, env }));
  replicas.push(await startReplica({ address: C, view: addresses, env: { ...env, CAUSAL_WAIT_MS: '0' } }));
  await clusterFormed(addresses);
});

test.after(async () => {
  await stopAll(replicas);
});

const header = (metadata: unknown) => ({ headers: { 'x-causal-metadata': JSON.stringify(metadata) } });
const state = async (address: string) => (await request('GET', address, '/debug/state')).body;

/** Waits until all three replicas have delivered the same events (nothing left in flight). */
async function settled(): Promise<Record<string, number>> {
  return waitFor(
    'all replicas to deliver the same events',
    async () => {
      const clocks = await Promise.all(addresses.map(async (address) => JSON.stringify((await state(address)).clock)));
      return clocks.every((clock) => clock === clocks[0]) ? (JSON.parse(clocks[0]!) as Record<string, number>) : false;
    },
    10_000,
  );
}

test('GET takes its metadata from the X-Causal-Metadata header when the body has none', async () => {
  const m = expectResult(await put(A, 'hdr', 'v'), 201, 'created');
  // Nothing in the body: the header is what the replica reads.
  await waitFor('C to have the write', async () => (await request('GET', C, '/kvs/hdr', undefined, header(m))).status === 200, 5000);
  expectResult(await request('GET', C, '/kvs/hdr', undefined, header(m)), 200, 'found', 'header metadata', 'v');
  expectAnswer(await request('GET', C, '/kvs/hdr', undefined, header(unsatisfiable)), 503, deps503, 'unsatisfiable header');
  expectError(await request('GET', C, '/kvs/hdr', undefined, { headers: { 'x-causal-metadata': 'garbage' } }), 'garbage header', 400);
  // The header also works on PUT and DELETE.
  expectAnswer(await request('PUT', C, '/kvs/hdr', { value: 'w' }, header(unsatisfiable)), 503, deps503, 'PUT with header');
  expectAnswer(await request('DELETE', C, '/kvs/hdr', undefined, header(unsatisfiable)), 503, deps503, 'DELETE with header');
});

test('the body wins over the X-Causal-Metadata header when both are present', async () => {
  const m = expectResult(await put(A, 'both', 'v'), 201, 'created');
  await waitFor('C to have the write', async () => (await get(C, 'both', m)).status === 200, 5000);
  expectResult(await request('GET', C, '/kvs/both', { 'causal-metadata': m }, header(unsatisfiable)), 200, 'found', 'body satisfiable', 'v');
  expectResult(await request('GET', C, '/kvs/both', { 'causal-metadata': {} }, header(unsatisfiable)), 200, 'found', 'body {}', 'v');
  expectAnswer(await request('GET', C, '/kvs/both', { 'causal-metadata': unsatisfiable }, header(m)), 503, deps503, 'body unsatisfiable');
  expectResult(await request('GET', C, '/kvs/both', { 'causal-metadata': m }, { headers: { 'x-causal-metadata': 'garbage' } }), 200, 'found', 'garbage header ignored', 'v');
});

test('a 404 carries causal-metadata that keeps the delete in the client\'s causal past', async () => {
  const missing = await get(A, 'never-there');
  assert.is(missing.status, 404);
  assert.is(missing.body.error, keyMissing.error);
  assert.ok(isMetadata(missing.body['causal-metadata']), `404 metadata: ${JSON.stringify(missing.body)}`);

  const m1 = expectResult(await put(A, 'gone', 'old'), 201, 'created');
  const m2 = expectResult(await del(A, 'gone', m1), 200, 'deleted');
  // A client that saw the key gone at A...
  const seen = await get(A, 'gone', m1);
  assert.is(seen.status, 404);
  const m3 = seen.body['causal-metadata'];
  assert.ok(isMetadata(m3), `404 metadata: ${JSON.stringify(seen.body)}`);
  assert.equal(m3, { ...m3, ...m2 }, 'the 404 metadata covers the delete');
  // ...never sees the old value again anywhere: B answers 404 (after waiting if it must).
  const atB = await get(B, 'gone', m3);
  assert.is(atB.status, 404, `GET at B with the 404's metadata: ${JSON.stringify(atB.body)}`);
  assert.is(atB.body.error, keyMissing.error);
  // And the metadata works when sent back on a write.
  expectResult(await put(B, 'gone', 'new', m3), 201, 'created', 'PUT with the 404 metadata');
});

test('bad input gets a 4xx {"error": ...} JSON answer, changes nothing, and the replica keeps serving', async () => {
  const m = expectResult(await put(A, 'target', 'good'), 201, 'created');
  const before = await settled();
  const path = '/kvs/target';
  const cases: [string, () => Promise<Answer>][] = [
    ['not JSON', () => request('PUT', A, path, undefined, { rawBody: 'value=1' })],
    ['truncated JSON', () => request('PUT', A, path, undefined, { rawBody: '{"value": ' })],
    ['form-encoded', () => request('PUT', A, path, undefined, { rawBody: 'value=bad&causal-metadata=null', headers: { 'content-type': 'application/x-www-form-urlencoded' } })],
    ['multipart', () => request('PUT', A, path, undefined, { rawBody: '--x\r\nContent-Disposition: form-data; name="value"\r\n\r\nbad\r\n--x--\r\n', headers: { 'content-type': 'multipart/form-data; boundary=x' } })],
    ['text/plain non-JSON', () => request('PUT', A, path, undefined, { rawBody: 'bad', headers: { 'content-type': 'text/plain' } })],
    ['JSON array body', () => request('PUT', A, path, undefined, { rawBody: '[{"value": "bad"}]' })],
    ['JSON string body', () => request('PUT', A, path, undefined, { rawBody: '"bad"' })],
    ['JSON number body', () => request('PUT', A, path, undefined, { rawBody: '42' })],
    ['JSON null body', () => request('PUT', A, path, undefined, { rawBody: 'null' })],
    ['GET with non-JSON body', () => request('GET', A, path, undefined, { rawBody: 'nope' })],
    ['DELETE with JSON array body', () => request('DELETE', A, path, undefined, { rawBody: '[]' })],
    ['bad percent-encoding in the key', () => request('PUT', A, '/kvs/%E0%A4%A', { value: 'bad' })],
  ];
  for (const metadata of ['garbage', { a: 1 }, { 'x/y': 'z' }, [1, 2], 42, true, { '127.0.0.1:1/a': -1 }, { '127.0.0.1:1/a': 1.5 }, '{"a":1}']) {
    const name = `metadata ${JSON.stringify(metadata)}`;
    cases.push([`PUT ${name}`, () => put(A, 'target', 'bad', metadata)]);
    cases.push([`GET ${name}`, () => get(A, 'target', metadata)]);
    cases.push([`DELETE ${name}`, () => del(A, 'target', metadata)]);
  }
  for (const [name, send] of cases) {
    const answer = await send();
    expectError(answer, name);
    if (name.startsWith('JSON ') && name.endsWith(' body')) assert.is(answer.body.error, 'Request body must be a JSON object', name);
    assert.not.equal(answer.status, 404, `${name}: a 404 would claim the key is missing`);
  }
  assert.is((await request('GET', A, '/health')).status, 200, 'still serving');
  expectResult(await get(A, 'target', m), 200, 'found', 'value unchanged', 'good');
  assert.equal((await state(A)).clock, before, 'no event was created');
});

test('a body over 262144 bytes is 413 JSON, refused fast; the replica keeps serving', async () => {
  const big = JSON.stringify({ value: 'x'.repeat(300_000), 'causal-metadata': null });
  const started = Date.now();
  const answer = await request('PUT', A, '/kvs/huge', undefined, { rawBody: big });
  expectError(answer, 'oversized body', 413);
  assert.ok(Date.now() - started < 2000, `413 took ${Date.now() - started} ms`);
  assert.is((await get(A, 'huge')).status, 404, 'nothing was written');
  assert.is((await request('GET', A, '/health')).status, 200);
});

test('a declared length over the limit is answered 413 before the body is sent', async () => {
  const [host, port] = A.split(':') as [string, string];
  const reply = await new Promise<string>((resolve, reject) => {
    const socket = connect({ host, port: Number(port) });
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within 3 s; got so far: ${JSON.stringify(text)}`));
    }, 3000);
    socket.on('connect', () => {
      // Declare 10 MB but send only the first bytes: the answer must come without the rest.
      socket.write(`PUT /kvs/huge HTTP/1.1\r\nHost: ${A}\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n{"value": "`);
    });
    socket.on('data', (chunk) => {
      text += chunk.toString();
      if (/\r\n\r\n[\s\S]*\}/.test(text)) {
        clearTimeout(timer);
        socket.destroy();
        resolve(text);
      }
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
  assert.match(reply, /^HTTP\/1\.1 413 /);
  const body = JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4));
  assert.type(body.error, 'string');
  assert.is((await request('GET', A, '/health')).status, 200);
});

test('a value over the value limit (but within the body limit) is a 4xx JSON error', async () => {
  expectError(await put(A, 'big-value', 'x'.repeat(200_000)), 'oversized value');
  assert.is((await get(A, 'big-value')).status, 404);
});

test('a metadata object with 100000 entries is a 4xx, and so is one over the entry limit that fits the body', async () => {
  const huge: Record<string, number> = {};
  for (let i = 0; i < 100_000; i++) huge[`127.0.0.1:1/a${i.toString(36)}`] = 1;
  const started = Date.now();
  expectError(await put(A, 'meta-huge', 1, huge), '100000 entries (PUT)');
  expectError(await get(A, 'meta-huge', huge), '100000 entries (GET)');
  assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
  const many: Record<string, number> = {};
  for (let i = 0; i < 2000; i++) many[`127.0.0.1:1/b${i.toString(36)}`] = 1;
  expectError(await put(A, 'meta-many', 1, many), '2000 entries', 400);
  assert.is((await get(A, 'meta-huge')).status, 404);
  assert.is((await get(A, 'meta-many')).status, 404);
  assert.is((await request('GET', A, '/health')).status, 200);
});

test('an unknown path is a 404 with a JSON error, and a wrong method a 4xx JSON error', async () => {
  for (const [method, path] of [['GET', '/nope'], ['PUT', '/'], ['GET', '/kvs'], ['DELETE', '/views']] as const) {
    const answer = await request(method, A, path);
    expectError(answer, `${method} ${path}`, 404);
  }
  expectError(await request('POST', A, '/kvs/x', { value: 1 }), 'POST /kvs/x');
  // /kvs/ requests bypass the router (src/http/kvs-routes.ts); the methods it does not take still reach it.
  const m = expectResult(await put(A, 'headed', 1), 201, 'created');
  assert.is((await request('HEAD', A, '/kvs/headed', undefined, header(m))).status, 200);
  assert.is((await request('HEAD', A, '/kvs/never-written')).status, 404);
  expectError(await request('PATCH', A, '/view', {}), 'PATCH /view');
  // A method the router does not know at all: its 501 is JSON too, never the plain-text default.
  const trace = await request('TRACE', A, '/kvs/x');
  assert.is(trace.status, 501);
  assert.type(trace.body.error, 'string', JSON.stringify(trace.body));
});

test('a body that does not match its Content-Encoding is a 400 JSON error and changes nothing', async () => {
  const m = expectResult(await put(A, 'zipped', 'before'), 201, 'created');
  for (const encoding of ['gzip', 'deflate', 'br']) {
    const answer = await request('PUT', A, '/kvs/zipped', undefined, { rawBody: JSON.stringify({ value: 'after', 'causal-metadata': m }), headers: { 'content-encoding': encoding } });
    expectError(answer, `Content-Encoding: ${encoding}`, 400);
  }
  expectResult(await get(A, 'zipped', m), 200, 'found', 'after the refused bodies', 'before');
});

test('a large body that does not decompress is a 400, and its keep-alive connection serves the next request', async () => {
  const [host, port] = A.split(':') as [string, string];
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const send = (method: string, path: string, body?: Buffer, headers: Record<string, string> = {}) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const call = httpRequest({ agent, host, port: Number(port), method, path, headers, timeout: 3000 }, (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
      });
      call.on('timeout', () => call.destroy(new Error(`${method} ${path}: no answer within 3 s`)));
      call.on('error', reject);
      call.end(body);
    });
  try {
    // Bigger than one read, so the server refuses it with most of it still unread.
    const refused = await send('PUT', '/kvs/zipped-big', randomBytes(1 << 20), { 'content-encoding': 'gzip', 'content-type': 'application/json' });
    assert.is(refused.status, 400, refused.body);
    const next = await send('GET', '/health');
    assert.is(next.status, 200, next.body);
  } finally {
    agent.destroy();
  }
});

test('keys with URL-special characters round-trip through percent-encoding', async () => {
  let m: unknown = null;
  for (const key of ['a b', 'a/b', 'q?x=1', 'hash#tag', '100%', 'ünï', '+plus']) {
    m = expectResult(await put(A, key, key, m), 201, 'created', `PUT ${key}`);
    expectResult(await get(B, key, m), 200, 'found', `GET ${key}`, key);
  }
});

test('GET /health answers 200', async () => {
  for (const address of addresses) {
    const answer = await request('GET', address, '/health');
    assert.is(answer.status, 200);
    assert.ok(isMetadata(answer.body), 'JSON object');
  }
});

test('GET /debug/state has view, clock and peers', async () => {
  const body = await state(B);
  assert.equal([...body.view].sort(), [...addresses].sort());
  assert.ok(isMetadata(body.clock));
  assert.ok(Array.isArray(body.peers));
  assert.equal(body.peers.map((peer: { address: string }) => peer.address).sort(), [A, C].sort());
});

test('GET /debug/log returns events and filters them by origin and key', async () => {
  const m1 = expectResult(await put(A, 'log-a', 1), 201, 'created');
  const m2 = expectResult(await put(B, 'log-b', 2, m1), 201, 'created');
  await waitFor('C to have both writes', async () => (await get(C, 'log-b', m2)).status === 200, 5000);
  const idA = (await state(A)).id as string;
  const idB = (await state(B)).id as string;

  const all = await request('GET', C, '/debug/log');
  assert.is(all.status, 200);
  assert.ok(Array.isArray(all.body.events) && all.body.events.length >= 2, JSON.stringify(all.body).slice(0, 300));

  const byKey = await request('GET', C, '/debug/log?key=log-b');
  assert.is(byKey.status, 200);
  assert.is(byKey.body.events.length, 1, JSON.stringify(byKey.body.events));
  assert.is(byKey.body.events[0].key, 'log-b');
  assert.is(byKey.body.events[0].origin, idB);
  assert.is(byKey.body.events[0].value, 2);

  const byOrigin = await request('GET', C, `/debug/log?origin=${encodeURIComponent(idA)}`);
  assert.is(byOrigin.status, 200);
  assert.ok(byOrigin.body.events.length >= 1);
  assert.ok(byOrigin.body.events.every((event: { origin: string }) => event.origin === idA), 'only A\'s events');
  assert.ok(byOrigin.body.events.some((event: { key: string }) => event.key === 'log-a'));

  const both = await request('GET', C, `/debug/log?origin=${encodeURIComponent(idA)}&key=log-b`);
  assert.equal(both.body.events, []);

  // since a clock: only what that metadata does not cover (here: B's write, not A's).
  const sinceM1 = await request('GET', C, `/debug/log?since=${encodeURIComponent(JSON.stringify(m1))}`);
  assert.is(sinceM1.status, 200);
  assert.ok(sinceM1.body.events.some((event: { key: string }) => event.key === 'log-b'));
  assert.not.ok(sinceM1.body.events.some((event: { key: string }) => event.key === 'log-a'), 'A\'s write is covered by m1');
  const sinceM2 = await request('GET', C, `/debug/log?since=${encodeURIComponent(JSON.stringify(m2))}&key=log-b`);
  assert.equal(sinceM2.body.events, []);
  expectError(await request('GET', C, '/debug/log?origin=garbage'), 'bad origin filter', 400);
});

test.run();
