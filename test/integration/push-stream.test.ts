// Pushes on one long-lived exchange per peer (src/transport/push-stream.ts, src/http/push-stream-route.ts):
// the sender (HttpTransport) against a receiver app that serves only the stream, in this process.
import Router from '@koa/router';
import Koa from 'koa';
import bodyParser from 'koa-bodyparser';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { replicaId, type Address } from '../../events/ids.ts';
import { defaultLimits, type Limits } from '../../events/limits.ts';
import type { PushReply, PushRequest } from '../../events/peer-messages.ts';
import { ValidationError } from '../../events/validation-error.ts';
import { servePushStream } from '../../src/http/push-stream-route.ts';
import { HttpTransport } from '../../src/transport/http-transport.ts';
import { pushStreamPath } from '../../src/transport/push-stream.ts';

const sender = { from: '127.0.0.1:1' as Address, incarnation: 'a1' };
// Clock entries of the sender and of the receiver, whose reply clock counts the pushes it took.
const a = replicaId('127.0.0.1:1' as Address, 'a1');
const b = replicaId('127.0.0.1:2' as Address, 'b1');
const limits: Limits = { ...defaultLimits, peerBodyBytesMax: 4096 };

interface Receiver {
  readonly address: Address;
  readonly received: PushRequest[];
  /** Push stream exchanges opened, and per-push POST /internal/events requests. */
  readonly counts: { streams: number; single: number };
  close(): Promise<void>;
}

/**
 * A receiver whose reply clock counts the pushes it has taken; `behaviour` changes how it serves.
 * A push whose incarnation is `late<ms>` is answered that many ms after it arrived (as a replica
 * answers once its storage holds what the push delivered), with the count as it arrived.
 */
async function startReceiver(behaviour: 'normal' | 'silent' | 'no-stream' = 'normal'): Promise<Receiver> {
  const received: PushRequest[] = [];
  const counts = { streams: 0, single: 0 };
  const receive = (request: PushRequest, answer: (reply: PushReply) => void): void => {
    if (request.incarnation === 'refuse') throw new ValidationError('refused on purpose', 409);
    received.push(request);
    const reply: PushReply = { from: '127.0.0.1:2' as Address, incarnation: 'b1', type: 'accepted', clock: { [b]: received.length } };
    const late = /^late(\d+)$/.exec(request.incarnation);
    if (late === null) answer(reply);
    else setTimeout(() => answer(reply), Number(late[1]));
  };
  const app = new Koa();
  const router = new Router();
  router.post(pushStreamPath, (ctx) => {
    counts.streams++;
    if (behaviour === 'no-stream') return;
    if (behaviour === 'silent') {
      ctx.respond = false;
      ctx.res.writeHead(200).flushHeaders();
      return;
    }
    // receive() here breaks no invariant; if one broke, the test process would crash on it.
    return servePushStream(ctx, limits, receive, (error) => {
      throw error;
    });
  });
  router.post('/internal/events', bodyParser(), async (ctx) => {
    counts.single++;
    ctx.body = await new Promise<PushReply>((resolve) => receive(ctx.request.body as PushRequest, resolve));
  });
  app.use(router.routes());
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    address: `127.0.0.1:${port}` as Address,
    received,
    counts,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

function client(options: { requestTimeoutMs?: number; pushStreamLifetimeMs?: number } = {}): HttpTransport {
  return new HttpTransport({
    limits,
    sourceAddress: undefined,
    connectTimeoutMs: 1000,
    requestTimeoutMs: options.requestTimeoutMs ?? 3000,
    probeTimeoutMs: 500,
    clusterToken: undefined,
    ...(options.pushStreamLifetimeMs === undefined ? {} : { pushStreamLifetimeMs: options.pushStreamLifetimeMs }),
  });
}

const push = (n: number, incarnation = sender.incarnation): PushRequest => ({ ...sender, incarnation, events: [], clock: { [a]: n } });

test('many pushes travel on one exchange and each gets its own answer, in order', async () => {
  const receiver = await startReceiver();
  const peers = client();
  try {
    for (let n = 1; n <= 50; n++) {
      const outcome = await peers.push(receiver.address, push(n));
      assert.ok(outcome.ok, JSON.stringify(outcome));
      if (outcome.ok) assert.equal(outcome.reply.clock, { [b]: n });
    }
    // Several in flight at once are answered in the order sent.
    const outcomes = await Promise.all([51, 52, 53].map((n) => peers.push(receiver.address, push(n))));
    assert.equal(outcomes.map((o) => (o.ok ? o.reply.clock : o.reason)), [{ [b]: 51 }, { [b]: 52 }, { [b]: 53 }]);
    assert.equal(receiver.received.map((r) => r.clock), Array.from({ length: 53 }, (_, i) => ({ [a]: i + 1 })));
    assert.is(receiver.counts.streams, 1);
    assert.is(receiver.counts.single, 0);
  } finally {
    peers.close();
    await receiver.close();
  }
});

test('answers that come late (storage) go out in the order of the pushes, and a stream ending waits for them', async () => {
  const receiver = await startReceiver();
  const peers = client({ pushStreamLifetimeMs: 100 });
  try {
    const started = Date.now();
    // The first is answered last by the receiver; the sender still hears them in order, each with its own reply.
    const outcomes = await Promise.all([
      peers.push(receiver.address, push(1, 'late150')),
      peers.push(receiver.address, push(2)),
      peers.push(receiver.address, push(3, 'late30')),
      peers.push(receiver.address, push(4, 'refuse')),
      peers.push(receiver.address, push(5)),
    ]);
    assert.equal(
      outcomes.map((o) => (o.ok ? o.reply.clock : o.reason)),
      [{ [b]: 1 }, { [b]: 2 }, { [b]: 3 }, 'HTTP 409: refused on purpose', { [b]: 4 }],
    );
    assert.ok(Date.now() - started >= 140, 'none before the first');
    assert.is(receiver.counts.streams, 1);
    // A stream past its lifetime is ended at the next push (which opens another): a late answer
    // still waiting on it arrives all the same, after the sender ended its side.
    const waiting = peers.push(receiver.address, push(6, 'late200'));
    await new Promise((resolve) => setTimeout(resolve, 120));
    const next = peers.push(receiver.address, push(7));
    const [old, fresh] = await Promise.all([waiting, next]);
    assert.ok(old.ok && fresh.ok, JSON.stringify([old, fresh]));
    assert.is(receiver.counts.streams, 3);
    // A line over the size bound after a late answer: that answer comes first, then the 413.
    const slow = peers.push(receiver.address, push(8, 'late100'));
    const huge = { ...push(9), clock: { [a]: 9, pad: 'x'.repeat(limits.peerBodyBytesMax) } as never };
    const [slowOutcome, tooLarge] = await Promise.all([slow, peers.push(receiver.address, huge)]);
    assert.ok(slowOutcome.ok, JSON.stringify(slowOutcome));
    assert.ok(!tooLarge.ok && /^HTTP 413/.test(tooLarge.reason), JSON.stringify(tooLarge));
  } finally {
    peers.close();
    await receiver.close();
  }
});

test('a refused push gets its status and the stream goes on; a push over the size bound is a 413 and the next push opens a new stream', async () => {
  const receiver = await startReceiver();
  const peers = client();
  try {
    const refused = await peers.push(receiver.address, push(1, 'refuse'));
    assert.equal(refused, { ok: false, reason: 'HTTP 409: refused on purpose' });
    assert.ok((await peers.push(receiver.address, push(2))).ok);
    assert.is(receiver.counts.streams, 1);
    const huge = { ...push(3), clock: { [a]: 3, pad: 'x'.repeat(limits.peerBodyBytesMax) } as never };
    const tooLarge = await peers.push(receiver.address, huge);
    assert.ok(!tooLarge.ok && /^HTTP 413/.test(tooLarge.reason), JSON.stringify(tooLarge));
    const after = await peers.push(receiver.address, push(4));
    assert.ok(after.ok, JSON.stringify(after));
    assert.is(receiver.counts.streams, 2);
    assert.equal(receiver.received.map((r) => r.clock), [{ [a]: 2 }, { [a]: 4 }]);
  } finally {
    peers.close();
    await receiver.close();
  }
});

test('a peer that stops answering fails every push waiting on the stream once the oldest is overdue', async () => {
  const receiver = await startReceiver('silent');
  const peers = client({ requestTimeoutMs: 300 });
  try {
    const started = Date.now();
    const outcomes = await Promise.all([1, 2].map((n) => peers.push(receiver.address, push(n))));
    const took = Date.now() - started;
    assert.equal(outcomes, [{ ok: false, reason: 'ETIMEDOUT' }, { ok: false, reason: 'ETIMEDOUT' }]);
    assert.ok(took >= 290 && took < 2000, `failed after ${took} ms`);
  } finally {
    peers.close();
    await receiver.close();
  }
});

test('a peer that goes away fails the waiting push at once, and a peer that is down is a connection error', async () => {
  const receiver = await startReceiver('silent');
  const peers = client({ requestTimeoutMs: 5000 });
  try {
    const waiting = peers.push(receiver.address, push(1));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const started = Date.now();
    await receiver.close();
    const outcome = await waiting;
    assert.ok(!outcome.ok, JSON.stringify(outcome));
    assert.ok(Date.now() - started < 1000);
    const refused = await peers.push(receiver.address, push(2));
    assert.equal(refused, { ok: false, reason: 'ECONNREFUSED' });
  } finally {
    peers.close();
  }
});

test('an old stream is ended after its lifetime, its pushes still answered, and the next push opens a new one', async () => {
  const receiver = await startReceiver();
  const peers = client({ pushStreamLifetimeMs: 100 });
  try {
    assert.ok((await peers.push(receiver.address, push(1))).ok);
    await new Promise((resolve) => setTimeout(resolve, 150));
    const outcomes = await Promise.all([2, 3].map((n) => peers.push(receiver.address, push(n))));
    assert.ok(outcomes.every((o) => o.ok), JSON.stringify(outcomes));
    assert.is(receiver.counts.streams, 2);
    assert.is(receiver.received.length, 3);
  } finally {
    peers.close();
    await receiver.close();
  }
});

test('a peer without the stream endpoint (an older version) gets one request per push', async () => {
  const receiver = await startReceiver('no-stream');
  const peers = client();
  try {
    for (let n = 1; n <= 3; n++) assert.ok((await peers.push(receiver.address, push(n))).ok);
    assert.is(receiver.counts.streams, 1);
    assert.is(receiver.counts.single, 3);
  } finally {
    peers.close();
    await receiver.close();
  }
});

test.run();
