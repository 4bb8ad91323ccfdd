// The HTTP boundary in process (createApp on a real ReplicaNode alone in its view): every failure
// the client API can produce keeps its exact status and body bytes, ordinary bugs are a logged 500,
// and a broken invariant is handed to onFatal instead of being answered as if nothing happened.
import Koa from 'koa';
import type { Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ExpectedError } from '../../events/expected-error.ts';
import { defaultLimits } from '../../events/limits.ts';
import { ValidationError } from '../../events/validation-error.ts';
import { assert as invariant, InvariantViolation } from '../../src/core/assert.ts';
import { ViewFullError } from '../../src/core/view-full-error.ts';
import { errorAnswer } from '../../src/http/errors.ts';
import { servePushStream } from '../../src/http/push-stream-route.ts';
import { DependenciesNotSatisfied } from '../../src/node/dependencies-not-satisfied.ts';
import { waitFor } from '../support/http.ts';
import { rawRequest, startInProcessApp, type InProcessApp, type RawRequest } from '../support/in-process.ts';

interface Case {
  readonly name: string;
  readonly request: RawRequest;
  readonly status: number;
  readonly text: string;
}

const json = { 'content-type': 'application/json' };
const unsatisfiable = JSON.stringify({ 'causal-metadata': { '127.0.0.9:9/abc': 5 } });

/** Answers recorded from the boundary before it was rebuilt on ExpectedError/errorAnswer: the contract. */
const cases: Case[] = [
  { name: 'PUT without value', request: { method: 'PUT', path: '/kvs/k', headers: json, body: '{}' }, status: 400, text: '{"error":"PUT request does not specify a value"}' },
  { name: 'PUT key over 50 characters', request: { method: 'PUT', path: `/kvs/${'k'.repeat(51)}`, headers: json, body: '{"value":1}' }, status: 400, text: '{"error":"Key is too long"}' },
  { name: 'PUT key bad percent-encoding', request: { method: 'PUT', path: '/kvs/%E0%A4%A', headers: json, body: '{"value":1}' }, status: 400, text: '{"error":"Key is not valid percent-encoding"}' },
  { name: 'PUT value too large', request: { method: 'PUT', path: '/kvs/k', headers: json, body: JSON.stringify({ value: 'x'.repeat(200_000) }) }, status: 413, text: '{"error":"Value is too large (200002 > 196608 bytes)"}' },
  { name: 'body over BODY_BYTES_MAX', request: { method: 'PUT', path: '/kvs/k', headers: json, body: JSON.stringify({ value: 'x'.repeat(300_000) }) }, status: 413, text: '{"error":"Request body is too large (over 262144 bytes)"}' },
  { name: 'body not JSON', request: { method: 'PUT', path: '/kvs/k', headers: json, body: '{"value": ' }, status: 400, text: '{"error":"Request body is not valid JSON: Unexpected end of JSON input"}' },
  { name: 'body a JSON number', request: { method: 'PUT', path: '/kvs/k', headers: json, body: '5' }, status: 400, text: '{"error":"Request body must be a JSON object"}' },
  { name: 'body a JSON array', request: { method: 'PUT', path: '/kvs/k', headers: json, body: '[1]' }, status: 400, text: '{"error":"Request body must be a JSON object"}' },
  { name: 'body with __proto__ keys (ordinary keys)', request: { method: 'PUT', path: '/kvs/proto', headers: json, body: '{"value":{"__proto__":{"x":1}},"__proto__":{"x":1}}' }, status: 201, text: '' },
  { name: 'body gzip that is not gzip', request: { method: 'PUT', path: '/kvs/k', headers: { ...json, 'content-encoding': 'gzip' }, body: 'not gzip at all' }, status: 400, text: '{"error":"Request body could not be decompressed as its Content-Encoding (gzip) says: Z_DATA_ERROR"}' },
  { name: 'body gzip, fine', request: { method: 'PUT', path: '/kvs/gz', headers: { ...json, 'content-encoding': 'gzip' }, body: gzipSync('{"value":1}') }, status: 201, text: '' },
  { name: 'body in an unknown encoding', request: { method: 'PUT', path: '/kvs/k', headers: { ...json, 'content-encoding': 'zstd-ish' }, body: '{"value":1}' }, status: 415, text: '{"error":"Unsupported Content-Encoding: zstd-ish (this store reads gzip, deflate, br or identity)"}' },
  { name: 'metadata not issued here', request: { method: 'GET', path: '/kvs/k', headers: json, body: '{"causal-metadata":{"x":"y"}}' }, status: 400, text: '{"error":"causal-metadata is not metadata this store issued: causal-metadata entry \\"x\\" must be a positive integer"}' },
  { name: 'metadata header not JSON', request: { method: 'GET', path: '/kvs/k', headers: { 'x-causal-metadata': '{nope' } }, status: 400, text: '{"error":"causal-metadata is not metadata this store issued (a string that is not JSON)"}' },
  { name: 'dependencies never arrive', request: { method: 'GET', path: '/kvs/k', headers: json, body: unsatisfiable }, status: 503, text: '{"error":"Causal dependencies not satisfied; try again later"}' },
  { name: 'write with dependencies never arriving', request: { method: 'PUT', path: '/kvs/k', headers: json, body: JSON.stringify({ value: 1, 'causal-metadata': { '127.0.0.9:9/abc': 5 } }) }, status: 503, text: '{"error":"Causal dependencies not satisfied; try again later"}' },
  { name: 'GET missing key', request: { method: 'GET', path: '/kvs/missing' }, status: 404, text: '{"error":"Key does not exist","causal-metadata":{}}' },
  { name: 'no such endpoint', request: { method: 'GET', path: '/nope' }, status: 404, text: '{"error":"No such endpoint: GET /nope"}' },
  { name: 'method not allowed', request: { method: 'POST', path: '/view' }, status: 405, text: '{"error":"Method POST is not allowed on /view"}' },
  { name: 'method not allowed on /kvs', request: { method: 'PATCH', path: '/kvs/k' }, status: 405, text: '{"error":"Method PATCH is not allowed on /kvs/k"}' },
  { name: 'method not implemented', request: { method: 'PROPFIND', path: '/view' }, status: 501, text: '{"error":"Method PROPFIND is not implemented"}' },
  { name: 'PUT /view without address', request: { method: 'PUT', path: '/view', headers: json, body: '{}' }, status: 400, text: '{"error":"socket-address must be a string of the form IP:PORT"}' },
  { name: 'PUT /view with a bad address', request: { method: 'PUT', path: '/view', headers: json, body: '{"socket-address":"nope"}' }, status: 400, text: '{"error":"socket-address must be of the form IP:PORT (or HOST:PORT), got \\"nope\\""}' },
  { name: 'PUT /view when the view is full', request: { method: 'PUT', path: '/view', headers: json, body: '{"socket-address":"127.0.0.1:2"}' }, status: 507, text: '{"error":"view is full (1 replicas at most)"}' },
  { name: 'DELETE /view of a stranger', request: { method: 'DELETE', path: '/view', headers: json, body: '{"socket-address":"127.0.0.1:3"}' }, status: 404, text: '{"error":"View has no such replica"}' },
  { name: 'snapshot that is gone', request: { method: 'GET', path: '/internal/snapshot?id=zz&index=0' }, status: 410, text: '{"error":"snapshot zz is gone; start again"}' },
  { name: 'snapshot index not an integer', request: { method: 'GET', path: '/internal/snapshot?id=zz&index=-1' }, status: 400, text: '{"error":"index must be an integer >= 0"}' },
  { name: 'push that is not a push', request: { method: 'POST', path: '/internal/events', headers: json, body: '{}' }, status: 400, text: '{"error":"events must be an array"}' },
  { name: 'peer body not JSON', request: { method: 'POST', path: '/internal/events', headers: json, body: '{' }, status: 400, text: '{"error":"Request body is not valid JSON: Expected property name or \'}\' in JSON at position 1"}' },
  // Was "(over 262144 bytes)", the client limit, whatever the limit of the body refused.
  { name: 'peer body over PEER_BODY_BYTES_MAX', request: { method: 'POST', path: '/internal/events', headers: json, body: JSON.stringify({ pad: 'x'.repeat(3000) }) }, status: 413, text: '{"error":"Request body is too large (over 2048 bytes)"}' },
  {
    name: 'push stream: a line over PEER_BODY_BYTES_MAX ends it',
    request: { method: 'POST', path: '/internal/event-stream', body: `${JSON.stringify({ pad: 'x'.repeat(3000) })}\n{}\n` },
    status: 200,
    text: '{"error":"push is larger than 2048 bytes","status":413}\n',
  },
  {
    name: 'push stream: a bad line, a line that is not JSON',
    request: { method: 'POST', path: '/internal/event-stream', body: '{}\n{nope\n' },
    status: 200,
    text: '{"error":"events must be an array","status":400}\n{"error":"push is not valid JSON: Expected property name or \'}\' in JSON at position 1","status":400}\n',
  },
];

let app: InProcessApp;

test.before(async () => {
  app = await startInProcessApp({ env: { CAUSAL_WAIT_MS: '0', VIEW_MEMBERS_MAX: '1', PEER_BODY_BYTES_MAX: '2048' } });
});

test.after(async () => {
  await app.close();
});

test('every failure of the client and peer API keeps its status and body bytes', async () => {
  const print = process.env.PRINT === '1';
  for (const c of cases) {
    const answer = await rawRequest(app.port, c.request);
    if (print) {
      console.log(JSON.stringify({ name: c.name, status: answer.status, text: answer.text, type: answer.headers['content-type'] }));
      continue;
    }
    assert.is(answer.status, c.status, `${c.name}: status, got ${answer.status} ${answer.text}`);
    if (c.text !== '') assert.is(answer.text, c.text, `${c.name}: body`);
  }
});

test('a value with __proto__ members is stored and read back as given, and no prototype in the process changes', async () => {
  const valueText = '{"__proto__":{"polluted":1},"inner":[{"__proto__":{"polluted":2}}]}';
  const written = await rawRequest(app.port, { method: 'PUT', path: '/kvs/proto2', headers: json, body: `{"value":${valueText},"__proto__":{"polluted":3}}` });
  assert.is(written.status, 201, written.text);
  const read = await rawRequest(app.port, { method: 'GET', path: '/kvs/proto2' });
  assert.is(JSON.stringify(JSON.parse(read.text).value), valueText);
  assert.is(({} as Record<string, unknown>).polluted, undefined);
  assert.is(Object.getPrototypeOf(JSON.parse(read.text).value), Object.prototype);
});

/** Replaces one method of the node (its core's when `core`) for the length of `body`. */
async function withBroken(
  app: InProcessApp,
  method: 'read' | 'handle' | 'view',
  error: () => Error,
  body: () => Promise<void>,
): Promise<void> {
  const target = (method === 'view' ? app.node.core : app.node) as unknown as Record<string, unknown>;
  target[method] = () => {
    throw error();
  };
  try {
    await body();
  } finally {
    delete target[method];
  }
}

/** The answer, or the reason there was none. */
async function answerOrFailure(port: number, request: RawRequest): Promise<{ status: number; text: string } | { failure: string }> {
  try {
    const { status, text } = await rawRequest(port, request);
    return { status, text };
  } catch (error) {
    return { failure: (error as Error).message };
  }
}

const push = JSON.stringify({ from: '127.0.0.1:5', incarnation: 'zz', events: [] });
const brokenRequests: { readonly name: string; readonly method: 'read' | 'handle' | 'view'; readonly request: RawRequest }[] = [
  { name: 'GET /kvs (the fast path)', method: 'read', request: { method: 'GET', path: '/kvs/k' } },
  { name: 'HEAD /kvs (through the router)', method: 'read', request: { method: 'HEAD', path: '/kvs/k' } },
  { name: 'GET /view', method: 'view', request: { method: 'GET', path: '/view' } },
  { name: 'POST /internal/events', method: 'handle', request: { method: 'POST', path: '/internal/events', headers: json, body: push } },
  { name: 'a push on the push stream', method: 'handle', request: { method: 'POST', path: '/internal/event-stream', body: `${push}\n` } },
];

for (const { name, method, request } of brokenRequests) {
  test(`${name}: a broken invariant goes to onFatal, once, and is not answered as an ordinary 500`, async () => {
    const fatalBefore = app.fatal.length;
    const logBefore = app.logLines.length;
    await withBroken(app, method, () => new InvariantViolation('broken on purpose'), async () => {
      const answer = await answerOrFailure(app.port, request);
      // No answer at all, or (the push stream, whose 200 header is out before the push is read) no answer line.
      if ('status' in answer) {
        assert.is(answer.status, 200, `${name}: ${JSON.stringify(answer)}`);
        assert.is(answer.text, '', `${name}: the push must get no answer line`);
      }
    });
    assert.is(app.fatal.length, fatalBefore + 1, `${name}: onFatal calls`);
    const fatal = app.fatal[fatalBefore];
    assert.instance(fatal, InvariantViolation);
    assert.is((fatal as Error).message, 'invariant violated: broken on purpose');
    const logged = app.logLines.slice(logBefore).filter((line) => line.msg === 'unexpected error');
    assert.equal(logged, [], `${name}: not logged as an ordinary unexpected error`);
    // The app serves on (in production onFatal has ended the process by now).
    assert.is((await rawRequest(app.port, { method: 'GET', path: '/health' })).status, 200);
  });
}

test('the push stream route on its own (no error middleware) hands a broken invariant to onFatal and answers the push nothing', async () => {
  const fatal: unknown[] = [];
  const bare = new Koa();
  bare.use((ctx) =>
    servePushStream(
      ctx,
      defaultLimits,
      () => {
        throw new InvariantViolation('broken on purpose');
      },
      (error) => fatal.push(error),
    ),
  );
  const server: Server = await new Promise((resolve) => {
    const s = bare.listen(0, '127.0.0.1', () => resolve(s));
  });
  try {
    const answer = await answerOrFailure((server.address() as AddressInfo).port, { method: 'POST', path: '/internal/event-stream', body: `${push}\n` });
    if ('status' in answer) assert.is(answer.text, '', 'no answer line');
    assert.is(fatal.length, 1);
    assert.instance(fatal[0], InvariantViolation);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

test('an assertion that fails in a route throws InvariantViolation there, which goes to onFatal', async () => {
  const fatalBefore = app.fatal.length;
  const node = app.node as unknown as Record<string, unknown>;
  node.read = () => invariant(false, 'read served before its dependencies were delivered');
  try {
    const answer = await answerOrFailure(app.port, { method: 'GET', path: '/kvs/k' });
    assert.ok('failure' in answer, `expected no answer, got ${JSON.stringify(answer)}`);
  } finally {
    delete node.read;
  }
  assert.is(app.fatal.length, fatalBefore + 1);
  assert.match(String(app.fatal[fatalBefore]), /InvariantViolation: invariant violated: read served before/);
});

test('an ordinary unexpected error stays a logged 500 {"error":"Internal error"}, and is not fatal', async () => {
  const fatalBefore = app.fatal.length;
  const logBefore = app.logLines.length;
  for (const [method, request] of [
    ['read', { method: 'GET', path: '/kvs/k' }],
    ['view', { method: 'GET', path: '/view' }],
    ['handle', { method: 'POST', path: '/internal/events', headers: json, body: push }],
  ] as const) {
    await withBroken(app, method, () => new TypeError('an ordinary bug'), async () => {
      const answer = await rawRequest(app.port, request);
      assert.equal([answer.status, answer.text], [500, '{"error":"Internal error"}'], `${request.method} ${request.path}`);
    });
  }
  assert.is(app.fatal.length, fatalBefore);
  const logged = app.logLines.slice(logBefore).filter((line) => line.msg === 'unexpected error');
  assert.is(logged.length, 3);
  for (const line of logged) {
    assert.is(line.level, 50); // pino's error
    assert.is((line.err as { message: string }).message, 'an ordinary bug');
  }
});

test('an ordinary unexpected error on the push stream cuts the exchange and is logged, not fatal', async () => {
  const fatalBefore = app.fatal.length;
  const logBefore = app.logLines.length;
  await withBroken(app, 'handle', () => new TypeError('an ordinary bug'), async () => {
    const answer = await answerOrFailure(app.port, { method: 'POST', path: '/internal/event-stream', body: `${push}\n` });
    if ('status' in answer) assert.is(answer.text, '', 'no answer line');
  });
  assert.is(app.fatal.length, fatalBefore);
  assert.is(app.logLines.slice(logBefore).filter((line) => line.msg === 'unexpected error').length, 1);
});

test('a client that resets its connection while its answer is pending is no error: nothing on stderr, nothing logged as one', async () => {
  const waiting = await startInProcessApp({ env: { CAUSAL_WAIT_MS: '10000' } });
  const printed: unknown[] = [];
  const consoleError = console.error;
  console.error = (...args: unknown[]) => void printed.push(args);
  const node = waiting.node as unknown as { read: (...args: unknown[]) => void };
  const read = node.read.bind(node);
  let reading = false;
  node.read = (...args) => {
    reading = true;
    read(...args);
  };
  const reported: NodeJS.ErrnoException[] = [];
  waiting.app.on('error', (error: NodeJS.ErrnoException) => reported.push(error));
  try {
    const socket = connect(waiting.port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(`GET /kvs/k HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${unsatisfiable.length}\r\n\r\n${unsatisfiable}`);
    await waitFor('the read to wait for its dependencies', () => reading, 5000, 5);
    socket.resetAndDestroy();
    await waitFor('Koa to report the reset connection', () => reported.length > 0, 5000, 5);
    assert.is(reported[0]!.code, 'ECONNRESET');
    // Koa's default handler printed "Error: read ECONNRESET" with its stack here.
    assert.equal(printed, []);
    assert.equal(waiting.logLines.filter((line) => (line.level as number) >= 50), []);
    // Anything else met while answering is logged as an error, still not printed bare.
    waiting.app.emit('error', new Error('something else'));
    assert.equal(printed, []);
    assert.equal(waiting.logLines.filter((line) => line.msg === 'error while answering').map((line) => (line.err as { message: string }).message), ['something else']);
  } finally {
    console.error = consoleError;
    delete (node as { read?: unknown }).read;
    await waiting.close();
  }
});

test('errorAnswer: every expected error by its own status and message; anything else 500; invariants apart', () => {
  const expected = (status: number, error: string) => ({ kind: 'expected', status, body: { error }, expose: true });
  assert.equal(errorAnswer(new ValidationError('bad')), expected(400, 'bad'));
  assert.equal(errorAnswer(new ValidationError('too big', 413)), expected(413, 'too big'));
  assert.equal(errorAnswer(new DependenciesNotSatisfied()), expected(503, 'Causal dependencies not satisfied; try again later'));
  assert.equal(errorAnswer(new ViewFullError(3)), expected(507, 'view is full (3 replicas at most)'));
  assert.equal(errorAnswer(new ExpectedError('internal detail', 503, false)), { kind: 'expected', status: 503, body: { error: 'Service Unavailable' }, expose: false });
  const bug = { kind: 'bug', status: 500, body: { error: 'Internal error' }, expose: false };
  assert.equal(errorAnswer(new Error('x')), bug);
  assert.equal(errorAnswer(Object.assign(new Error('looks like an HTTP error'), { status: 404, expose: true })), bug);
  assert.equal(errorAnswer('a string'), bug);
  assert.equal(errorAnswer(new InvariantViolation('x')), { kind: 'invariant', status: 500, body: { error: 'Internal error' }, expose: false });
  assert.throws(() => invariant(1 > 2, 'arithmetic'), (error: unknown) => error instanceof InvariantViolation && error.message === 'invariant violated: arithmetic');
});

test.run();
