// The typed client (src/client/kvs-client.ts) against a real 3-replica cluster from the bundle:
// typed results, metadata carried from every answer (404s included), read-your-writes across
// replicas through 503 retries, bounded give-up, no retry of a 4xx, failover and view discovery.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { KvsClient, KvsError, type AttemptEvent, type KvsClientOptions } from '../../src/client/kvs-client.ts';
import { portBase, startReplica, stopAll, type ReplicaProcess } from '../support/cluster.ts';

const port = portBase('client');
const addresses = [1, 2, 3].map((i) => `127.0.61.${i}:${port + i - 1}`);
const [A, B, C] = addresses as [string, string, string];
/** Nobody listens here: connection refused at once. */
const nowhere = `127.0.61.200:${port + 9}`;
/** Well-formed metadata naming a replica life that never existed: never satisfied. */
const unsatisfiable = { '127.0.0.9:9/abc': 5 };
const deps503 = 'Causal dependencies not satisfied; try again later';

const replicas: ReplicaProcess[] = [];
const clients: KvsClient[] = [];

test.before(async () => {
  // Started together (each waits for /health); C answers 503 at once when it lacks a dependency,
  // so the client's retries are what gets a read through.
  const started = await Promise.allSettled([
    startReplica({ address: A, view: addresses }),
    startReplica({ address: B, view: addresses }),
    startReplica({ address: C, view: addresses, env: { CAUSAL_WAIT_MS: '0' } }),
  ]);
  for (const result of started) if (result.status === 'fulfilled') replicas.push(result.value);
  for (const result of started) if (result.status === 'rejected') throw result.reason;
});

test.after(async () => {
  for (const client of clients) client.close();
  await stopAll(replicas);
});

/** A client that records every request it makes. */
function client(options: KvsClientOptions): { kvs: KvsClient; attempts: AttemptEvent[] } {
  const attempts: AttemptEvent[] = [];
  const kvs = new KvsClient({ ...options, onAttempt: (attempt) => attempts.push(attempt) });
  clients.push(kvs);
  return { kvs, attempts };
}

async function rejection(promise: Promise<unknown>): Promise<KvsError> {
  try {
    await promise;
  } catch (error) {
    assert.instance(error, KvsError, `expected a KvsError, got ${String(error)}`);
    return error as KvsError;
  }
  assert.unreachable('expected the call to fail');
  throw new Error('unreachable');
}

test('typed results for get, put, delete; values come back exactly as given', async () => {
  const { kvs } = client({ replicas: [A] });
  assert.is(kvs.metadata, null, 'a new session has no dependencies');
  assert.is(await kvs.put('t', 1), 'created');
  const afterPut = kvs.metadata;
  assert.type(afterPut, 'object');
  assert.equal(await kvs.get('t'), { found: true, value: 1 });
  assert.is(await kvs.put('t', '1'), 'replaced');
  assert.equal(await kvs.get('t'), { found: true, value: '1' }, 'the string "1" stays a string');
  const nested = { a: [1, 'two', { three: null }], b: true };
  await kvs.put('t', nested);
  assert.equal(await kvs.get('t'), { found: true, value: nested });
  assert.is(await kvs.delete('t'), 'deleted');
  assert.equal(await kvs.get('t'), { found: false });
  assert.is(await kvs.delete('t'), 'not-found');
  assert.equal(await kvs.get('never-written'), { found: false });
  assert.is.not(JSON.stringify(kvs.metadata), JSON.stringify(afterPut), 'metadata moved on with every answer');
  assert.is(kvs.lastReplica, A);
});

test('bad calls fail before any request: bad addresses, empty key, null value', async () => {
  for (const replicas of [[], ['localhost'], ['1.2.3.4:0'], ['http://1.2.3.4:80']]) {
    assert.throws(() => new KvsClient({ replicas }), (error: unknown) => error instanceof KvsError && error.kind === 'invalid-argument', JSON.stringify(replicas));
  }
  assert.throws(() => new KvsClient({ replicas: [A], retry: { attemptsMax: 0 } }), (error: unknown) => error instanceof KvsError);
  const { kvs, attempts } = client({ replicas: [A] });
  assert.is((await rejection(kvs.get(''))).kind, 'invalid-argument');
  assert.is((await rejection(kvs.put('k', null as never))).kind, 'invalid-argument');
  assert.is(attempts.length, 0);
});

test('read-your-writes across replicas: the metadata carried to a replica that lags is retried past its 503s', async () => {
  const writer = client({ replicas: [A] }).kvs;
  await writer.put('ryw', 'v0');
  const before = writer.metadata as Record<string, number>;
  // Metadata that the *next* write at A satisfies: C must answer 503 until that write reaches it.
  const [originA] = Object.entries(before).find(([, seq]) => seq > 0)!;
  const ahead = { ...before, [originA]: before[originA]! + 1 };
  const { kvs: reader, attempts } = client({ replicas: [C], metadata: ahead, retry: { attemptsMax: 200, delayMsMin: 20, delayMsMax: 100, totalMsMax: 15_000 } });
  const read = reader.get('ryw');
  await new Promise((resolve) => setTimeout(resolve, 300));
  await writer.put('ryw', 'v1');
  assert.equal(await read, { found: true, value: 'v1' }, 'the read waited (retrying) for the write it depends on');
  assert.ok(attempts.filter((attempt) => attempt.outcome === 503).length >= 1, `C answered 503 first: ${JSON.stringify(attempts)}`);
  assert.is(attempts.at(-1)!.outcome, 200);

  // The everyday form: one session writing at A and reading at C, by handing the metadata over.
  for (let i = 0; i < 5; i++) {
    await writer.put(`ryw-${i}`, i);
    const { kvs: atC } = client({ replicas: [C], metadata: writer.metadata });
    assert.equal(await atC.get(`ryw-${i}`), { found: true, value: i }, `write ${i} read at C`);
    writer.metadata = atC.metadata; // the setter: the session goes on from what C answered
  }
});

test('a 404 carries metadata: a session that saw a key deleted never sees it again elsewhere', async () => {
  const writer = client({ replicas: [A] }).kvs;
  await writer.put('gone', 'old');
  await writer.delete('gone');
  const { kvs: session } = client({ replicas: [A] });
  assert.equal(await session.get('gone'), { found: false });
  assert.type(session.metadata, 'object', 'the 404 gave the session metadata covering the delete');
  const { kvs: atC } = client({ replicas: [C], metadata: session.metadata });
  assert.equal(await atC.get('gone'), { found: false }, 'C does not serve the old value to this session');
});

test('a 503 that never clears gives up within the attempt bound, as unavailable', async () => {
  const { kvs, attempts } = client({ replicas: [C], metadata: unsatisfiable, retry: { attemptsMax: 5, delayMsMin: 20, delayMsMax: 80, totalMsMax: 20_000 } });
  const started = Date.now();
  const error = await rejection(kvs.get('k'));
  const elapsed = Date.now() - started;
  assert.is(error.kind, 'unavailable');
  assert.is(error.status, 503);
  assert.is(error.serverMessage, deps503);
  assert.is(error.unreachable, false);
  assert.is(error.attempts.length, 5);
  assert.is(attempts.length, 5);
  assert.ok(elapsed < 5000, `gave up after ${elapsed} ms`);
  assert.equal(kvs.metadata, unsatisfiable, 'a failed operation leaves the metadata as it was');
});

test('a 503 that never clears gives up within the time bound, as unavailable', async () => {
  const { kvs, attempts } = client({ replicas: [C], metadata: unsatisfiable, retry: { attemptsMax: 10_000, delayMsMin: 10, delayMsMax: 50, totalMsMax: 600 } });
  const started = Date.now();
  const error = await rejection(kvs.put('k', 1));
  const elapsed = Date.now() - started;
  assert.is(error.kind, 'unavailable');
  assert.is(error.status, 503);
  assert.ok(attempts.length > 1, `retried: ${attempts.length} attempts`);
  assert.ok(elapsed >= 550 && elapsed < 4000, `gave up after ${elapsed} ms (bound 600 ms)`);
});

test('a 4xx is never retried and reports the replica\'s own message', async () => {
  const { kvs, attempts } = client({ replicas: [A, B, C] });
  const tooLong = await rejection(kvs.put('k'.repeat(51), 1));
  assert.is(tooLong.kind, 'rejected');
  assert.is(tooLong.status, 400);
  assert.is(tooLong.serverMessage, 'Key is too long');
  assert.is(tooLong.replica, A);
  assert.ok(tooLong.message.includes('Key is too long'), tooLong.message);
  assert.is(attempts.length, 1, 'one request, no retry, no failover');

  kvs.metadata = { not: 'metadata' };
  const badMetadata = await rejection(kvs.get('k'));
  assert.is(badMetadata.kind, 'rejected');
  assert.is(badMetadata.status, 400);
  assert.is(attempts.length, 2);
});

test('nothing reachable: unavailable (unreachable) after the bounds', async () => {
  const { kvs } = client({ replicas: [nowhere], retry: { attemptsMax: 3, delayMsMin: 10, delayMsMax: 20, totalMsMax: 5000 } });
  const error = await rejection(kvs.get('k'));
  assert.is(error.kind, 'unavailable');
  assert.is(error.unreachable, true);
  assert.is(error.status, undefined);
  assert.is(error.attempts.length, 3);
  assert.ok(error.message.includes('no replica reachable'), error.message);
  assert.ok(error.message.includes('connection refused'), error.message);
});

test('a replica that is down is skipped for the next one in the list', async () => {
  const { kvs, attempts } = client({ replicas: [nowhere, B] });
  assert.is(await kvs.put('skip', 1), 'created');
  assert.equal(
    attempts.map((attempt) => [attempt.replica, attempt.outcome]),
    [
      [nowhere, 'unreachable'],
      [B, 201],
      [B, 200], // the GET /view that follows a failover
    ],
  );
  assert.ok(kvs.replicas.includes(C), `learned the view after failing over: ${kvs.replicas.join(', ')}`);
  attempts.length = 0;
  assert.equal(await kvs.get('skip'), { found: true, value: 1 });
  assert.equal(attempts.map((attempt) => attempt.replica), [B], 'the replica that worked is tried first from then on');
});

test('view() lists the cluster and the client learns replicas from it', async () => {
  const { kvs } = client({ replicas: [A] });
  assert.equal((await kvs.view()).sort(), [...addresses].sort());
  assert.equal([...kvs.replicas].sort(), [...addresses].sort());
});

test('failover: with one replica SIGKILLed the client carries on through the others, causally', async () => {
  // Knows only A at first, learns B and C from the view, then A dies.
  const { kvs, attempts } = client({ replicas: [A] });
  await kvs.view();
  assert.is(await kvs.put('fo', 'before'), 'created');
  assert.is(kvs.lastReplica, A);
  await replicas[0]!.kill('SIGKILL');

  const started = Date.now();
  assert.is(await kvs.put('fo', 'after'), 'replaced', 'the write went to another replica');
  assert.ok(kvs.lastReplica === B || kvs.lastReplica === C, `answered by ${kvs.lastReplica}`);
  assert.ok(Date.now() - started < 5000, 'failed over promptly');
  assert.ok(attempts.some((attempt) => attempt.replica === A && attempt.outcome === 'unreachable'));
  assert.equal(await kvs.get('fo'), { found: true, value: 'after' });

  // A fresh session given the dead replica first, with this session's metadata, reads the new value.
  const { kvs: other } = client({ replicas: [A, C], metadata: kvs.metadata });
  assert.equal(await other.get('fo'), { found: true, value: 'after' });
  assert.is(other.lastReplica, C);
});

test.run();
