// Client requests forwarded to another shard on one long-lived exchange per member
// (src/shard/forward-stream.ts, forward-links.ts, forward-stream-route.ts): the forwarding side
// against a member app that serves only the stream (or only plain /kvs requests), in this process.
import Router from '@koa/router';
import Koa from 'koa';
import bodyParser from 'koa-bodyparser';
import { request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { forwardStreamPath, type ForwardRequestFrame } from '../../events/forward-frames.ts';
import type { Address } from '../../events/ids.ts';
import { ValidationError } from '../../events/validation-error.ts';
import type { KvsAnswer } from '../../src/http/kvs-routes.ts';
import { createLogger } from '../../src/node/logger.ts';
import { ForwardLinks } from '../../src/shard/forward-links.ts';
import { serveForwardStream } from '../../src/shard/forward-stream-route.ts';
import { ShardClient, ShardCallError } from '../../src/shard/shard-client.ts';

const log = createLogger('silent', 'test');

interface Member {
  readonly address: Address;
  readonly served: ForwardRequestFrame[];
  readonly counts: { streams: number; plain: number };
  close(): Promise<void>;
}

/**
 * A member whose serve() answers `{"result": "served", key}`; a key `slow<ms>` is answered that many
 * ms later, `refuse` with a 409, `crash` closes every connection (the member dies mid-request).
 * `no-stream`: an older member, with no stream route, serving /kvs/<key> as plain requests;
 * `unsharded`: a node with no stream route that runs unsharded (its map is null).
 */
async function startMember(behaviour: 'normal' | 'no-stream' | 'unsharded' = 'normal'): Promise<Member> {
  const served: ForwardRequestFrame[] = [];
  const counts = { streams: 0, plain: 0 };
  let server: Server;
  const serve = async (request: ForwardRequestFrame): Promise<KvsAnswer> => {
    served.push(request);
    if (request.key === 'refuse') throw new ValidationError('refused on purpose', 409);
    if (request.key === 'crash') {
      server.closeAllConnections();
      return new Promise(() => {});
    }
    const slow = /^slow(\d+)$/.exec(request.key);
    if (slow !== null) await sleep(Number(slow[1]));
    return { status: 200, body: { result: 'served', key: request.key, method: request.method } };
  };
  const app = new Koa();
  app.silent = true; // a stream cut on purpose (a dying member, an overdue answer) is no news here
  const router = new Router();
  if (behaviour === 'normal') {
    router.post(forwardStreamPath, (ctx) => {
      counts.streams++;
      return serveForwardStream(ctx, { lineBytesMax: 64 * 1024, serve, log, onFatal: (error) => { throw error; } });
    });
  }
  router.get('/internal/shard/map', (ctx) => {
    ctx.body = { map: behaviour === 'unsharded' ? null : { epoch: 1, shards: [] }, view: [] };
  });
  router.all(/^\/kvs\/.*/, bodyParser(), (ctx) => {
    counts.plain++;
    ctx.body = { result: 'served plainly', key: decodeURIComponent(ctx.path.slice(5)), hops: ctx.get('x-kvs-forwarded') };
  });
  app.use(router.routes());
  server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const address = `127.0.0.1:${(server.address() as AddressInfo).port}` as Address;
  return {
    address,
    served,
    counts,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

function forwarder(answerTimeoutMs = 2000): { links: ForwardLinks; client: ShardClient } {
  const client = new ShardClient({ sourceAddress: undefined, connectTimeoutMs: 500, clusterToken: undefined, answerBytesMax: 1 << 20 });
  return { client, links: new ForwardLinks({ client, answerTimeoutMs, lineBytesMax: 1 << 20 }) };
}

const frame = (key: string, method: ForwardRequestFrame['method'] = 'GET'): Omit<ForwardRequestFrame, 'id'> => ({ method, key, body: { 'causal-metadata': null }, hops: 1 });

test('requests share one stream, each answered by id, a slow one holding up none of those after it', async () => {
  const member = await startMember();
  const { links, client } = forwarder();
  try {
    const order: string[] = [];
    const asked = ['slow150', 'a', 'b', 'c'].map((key) => links.send(member.address, frame(key)).then((answer) => (order.push(key), answer)));
    const answers = await Promise.all(asked);
    assert.equal(answers.map((answer) => answer.body.key), ['slow150', 'a', 'b', 'c'], 'each answer is its own request\'s');
    assert.is(order.at(-1), 'slow150', 'the slow answer came last');
    assert.is(member.counts.streams, 1, 'one stream for all of them');
    assert.equal(member.served[1], { id: 1, method: 'GET', key: 'a', body: { 'causal-metadata': null }, hops: 1 }, 'the frame as sent');
    const refused = await links.send(member.address, frame('refuse', 'PUT'));
    assert.equal(refused, { status: 409, body: { error: 'refused on purpose' } }, 'a refusal is relayed as the member answered it');
    assert.is((await links.send(member.address, frame('after'))).body.key, 'after', 'the stream goes on after a refusal');
  } finally {
    links.close();
    client.close();
    await member.close();
  }
});

test('no connection: every request fails as not sent (a write may go to the next member); a member dying mid-request: sent', async () => {
  const member = await startMember();
  const { links, client } = forwarder();
  try {
    const closed = await startMember();
    await closed.close(); // its port now refuses connections
    const refused = await links.send(closed.address, frame('k', 'PUT')).catch((error: unknown) => error);
    assert.instance(refused, ShardCallError);
    assert.ok((refused as ShardCallError).notSent, 'refused connection: not sent');
    const died = await links.send(member.address, frame('crash', 'PUT')).catch((error: unknown) => error);
    assert.instance(died, ShardCallError);
    assert.not.ok((died as ShardCallError).notSent, 'the member had it: it may have been made');
  } finally {
    links.close();
    client.close();
    await member.close();
  }
});

test('an answer overdue fails the requests waiting, and the next request opens a new stream', async () => {
  const member = await startMember();
  const { links, client } = forwarder(200);
  try {
    const overdue = await links.send(member.address, frame('slow1000')).catch((error: unknown) => error);
    assert.instance(overdue, ShardCallError);
    assert.match((overdue as Error).message, /no answer within 200 ms/);
    assert.is((await links.send(member.address, frame('next'))).body.key, 'next');
    assert.is(member.counts.streams, 2);
  } finally {
    links.close();
    client.close();
    await member.close();
  }
});

test('a member without the stream route (an older version) gets plain requests, with the hop count', async () => {
  const member = await startMember('no-stream');
  const { links, client } = forwarder();
  try {
    const answer = await links.send(member.address, frame('a key/with %', 'PUT'));
    assert.equal(answer, { status: 200, body: { result: 'served plainly', key: 'a key/with %', hops: '1' } });
    await links.send(member.address, frame('again'));
    assert.is(member.counts.plain, 2, 'both as plain requests');
  } finally {
    links.close();
    client.close();
    await member.close();
  }
});

test('a node without the stream route that runs unsharded gets nothing: not sent, so the next member is tried, a write included', async () => {
  const member = await startMember('unsharded');
  const { links, client } = forwarder();
  try {
    const refused = await links.send(member.address, frame('k', 'PUT')).catch((error: unknown) => error);
    assert.instance(refused, ShardCallError);
    assert.ok((refused as ShardCallError).notSent);
    assert.is(member.counts.plain, 0, 'no /kvs request reached it');
  } finally {
    links.close();
    client.close();
    await member.close();
  }
});

/** Lines written straight to the stream route, and the answer lines read back until it ends. */
function rawStream(address: Address, text: string): Promise<string[]> {
  const [host, port] = address.split(':');
  return new Promise((resolve, reject) => {
    const exchange = httpRequest({ host, port: Number(port), method: 'POST', path: forwardStreamPath }, (response) => {
      let data = '';
      response.on('data', (chunk: Buffer) => (data += chunk.toString('utf8')));
      response.on('end', () => resolve(data.split('\n').filter((line) => line !== '')));
      response.on('error', reject);
    });
    exchange.on('error', reject);
    exchange.end(text);
  });
}

test('the member: a malformed request gets its 400 by id; a line with no id ends the stream after the answers due', async () => {
  const member = await startMember();
  try {
    const lines = await rawStream(
      member.address,
      [
        JSON.stringify({ id: 7, method: 'POST', key: 'k', body: {}, hops: 1 }),
        JSON.stringify({ id: 8, method: 'GET', key: 'slow50', body: {}, hops: 1 }),
        JSON.stringify({ id: 9, method: 'GET', key: '', body: {}, hops: 1 }),
        '{"no id": true}',
        JSON.stringify({ id: 10, method: 'GET', key: 'never read', body: {}, hops: 1 }),
      ].join('\n') + '\n',
    );
    const answers = lines.map((line) => JSON.parse(line));
    assert.equal(answers.map((answer) => answer.id).sort(), [7, 8, 9]);
    assert.equal(answers.find((answer) => answer.id === 7), { id: 7, status: 400, body: { error: 'forwarded request: method must be GET, PUT or DELETE' } });
    assert.equal(answers.find((answer) => answer.id === 8).status, 200, 'the request in service when the stream was cut still got its answer');
    assert.is(answers.find((answer) => answer.id === 9).status, 400);
    assert.not.ok(member.served.some((request) => request.key === 'never read'));
  } finally {
    await member.close();
  }
});

test.run();
