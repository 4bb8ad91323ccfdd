import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Address } from '../../events/ids.ts';
import type { JsonValue } from '../../events/json-value.ts';
import type { KvEvent } from '../../events/kv-event.ts';
import type { PushReply, SnapshotChunk, ViewChangeOrigin } from '../../events/peer-messages.ts';
import { peerRpcs, type PeerRpc, type ReplyOf, type RequestOf, type RpcName } from '../../events/peer-rpc.ts';
import type { VectorClock } from '../../events/vector-clock.ts';
import { addresses, arbClock, clock, del, id, put, testLimits } from './support.ts';

const [A, B] = [addresses[0]!, addresses[1]!];

/** A request as HTTP carries it (path with query, JSON text body) parsed back by the receiver; a reply as JSON text parsed back by the sender. */
function roundTrip<K extends RpcName>(name: K, request: RequestOf<K>, reply: ReplyOf<K>): void {
  const rpc: PeerRpc<K> = peerRpcs[name];
  const form = rpc.encode(request);
  assert.ok(form.path === rpc.path || form.path.startsWith(`${rpc.path}?`), `${name} goes to ${rpc.path}, not ${form.path}`);
  if (rpc.method === 'GET') assert.is(form.body, undefined, `${name} is a GET: no body`);
  const bodyText = form.body === undefined ? undefined : JSON.stringify(form.body);
  const query = Object.fromEntries(new URL(form.path, 'http://peer.test').searchParams);
  assert.equal(rpc.parseRequest({ query, body: bodyText === undefined ? undefined : JSON.parse(bodyText) }, testLimits), request);
  assert.equal(rpc.parseReply(JSON.parse(JSON.stringify(reply)), testLimits), reply);
}

type Exchange<K extends RpcName> = { readonly request: RequestOf<K>; readonly reply: ReplyOf<K> };

// ------------------------------------------------------------------ one sample per rpc

const e1 = put(0, 1, 'k', { nested: [1, 'two', null, true] });
const e2 = del(0, 2, 'k', { 0: 1 });
const chunk: SnapshotChunk = { from: B, incarnation: 'b2', snapshotId: 'b2-7', index: 1, last: false, clock: clock({ 0: 2, 1: 4 }), view: [A, B], entries: [e1, e2] };
const origin: ViewChangeOrigin = { from: A, incarnation: 'a1', clock: clock({ 0: 2 }) };

/** The compiler asks for every rpc here; the test below checks the table at run time too. */
const samples: { readonly [K in RpcName]: Exchange<K> } = {
  push: {
    request: { from: A, incarnation: 'a1', events: [e1, e2], clock: clock({ 0: 2 }), custody: true },
    reply: { type: 'held-down', from: B, incarnation: 'b2', clock: clock({ 1: 4 }), remainingMs: 1200, custodySeq: 2 },
  },
  'snapshot-push': { request: chunk, reply: { type: 'accepted', from: B, incarnation: 'b2', clock: clock({ 0: 2, 1: 4 }) } },
  'snapshot-pull': { request: { snapshotId: 'b2-7', index: 1 }, reply: chunk },
  probe: { request: {}, reply: { status: 'ok', from: B, incarnation: 'b2', clock: clock({ 1: 4 }) } },
  'view-add': { request: { address: A, origin }, reply: { result: 'added' } },
  'view-delete': { request: { address: B, origin: { from: A, incarnation: 'a1' } }, reply: { result: 'deleted' } },
};

const rpcNames = Object.keys(peerRpcs) as RpcName[];

test('the samples cover every rpc of the table', () => {
  assert.equal(Object.keys(samples).sort(), [...rpcNames].sort());
});

for (const name of rpcNames) {
  test(`${name}: a sample request survives encode, JSON text and parseRequest, and a sample reply JSON text and parseReply`, () => {
    const sample = samples[name];
    roundTrip(name, sample.request, sample.reply);
  });
}

test('a first snapshot pull (no cut yet) and a view change from a client round-trip too', () => {
  roundTrip('snapshot-pull', { index: 0 }, { ...chunk, index: 0, last: true });
  roundTrip('view-add', { address: B }, { result: 'already present' });
  roundTrip('view-delete', { address: B }, { result: 'absent' });
  roundTrip('push', { from: A, incarnation: 'a1', events: [] }, { type: 'accepted', from: B, incarnation: 'b2', clock: clock({}) });
});

// ------------------------------------------------------------------ the law, for generated messages of every rpc

const arbAddress: fc.Arbitrary<Address> = fc.constantFrom(...addresses);
const arbIncarnation = fc.stringMatching(/^[0-9a-z]{1,16}$/);
/** Values as JSON gives them back (no -0). A put's value is never null. */
const arbValue: fc.Arbitrary<JsonValue> = fc
  .jsonValue({ maxDepth: 3 })
  .map((value) => JSON.parse(JSON.stringify(value)) as JsonValue)
  .filter((value) => value !== null);

const arbEvent: fc.Arbitrary<KvEvent> = fc
  .record({ origin: fc.integer({ min: 0, max: 3 }), seq: fc.integer({ min: 1, max: 9 }), key: fc.string({ minLength: 1, maxLength: 12 }), deps: arbClock, value: fc.option(arbValue, { nil: undefined }) })
  .map(({ origin, seq, key, deps, value }): KvEvent => {
    const eventClock = Object.freeze({ ...deps, [id(origin)]: seq }) as VectorClock;
    return value === undefined ? { type: 'delete', origin: id(origin), seq, key, clock: eventClock } : { type: 'put', origin: id(origin), seq, key, value, clock: eventClock };
  });

/** fc.record may build objects without a prototype; the parsers answer plain ones. */
const plain = <T extends object>(value: T): T => ({ ...value });
const arbIdentity = fc.record({ from: arbAddress, incarnation: arbIncarnation }).map(plain);

const arbPushReply: fc.Arbitrary<PushReply> = fc.oneof(
  arbIdentity.chain((identity) => arbClock.map((c): PushReply => ({ ...identity, type: 'accepted', clock: c }))),
  fc
    .record({ identity: arbIdentity, clock: arbClock, remainingMs: fc.nat(100_000), custodySeq: fc.option(fc.nat(1000), { nil: undefined }) })
    .map(({ identity, clock: c, remainingMs, custodySeq }): PushReply => ({ ...identity, type: 'held-down', clock: c, remainingMs, ...(custodySeq === undefined ? {} : { custodySeq }) })),
);

const arbChunk: fc.Arbitrary<SnapshotChunk> = fc
  .record({
    identity: arbIdentity,
    snapshotId: fc.string({ minLength: 1, maxLength: 64 }),
    index: fc.nat(1000),
    last: fc.boolean(),
    clock: arbClock,
    view: fc.uniqueArray(arbAddress),
    entries: fc.array(arbEvent, { maxLength: testLimits.snapshotChunkKeysMax }),
  })
  .map(({ identity, ...rest }) => ({ ...identity, ...rest }));

const arbOrigin: fc.Arbitrary<ViewChangeOrigin | undefined> = fc.option(
  fc.record({ identity: arbIdentity, clock: fc.option(arbClock, { nil: undefined }) }).map(({ identity, clock: c }) => (c === undefined ? { ...identity } : { ...identity, clock: c })),
  { nil: undefined },
);

const arbViewChange = fc
  .record({ address: arbAddress, origin: arbOrigin, result: fc.string({ maxLength: 20 }) })
  .map(({ address, origin: o, result }) => ({ request: o === undefined ? { address } : { address, origin: o }, reply: { result } }));

const arbitraries: { readonly [K in RpcName]: fc.Arbitrary<Exchange<K>> } = {
  push: fc
    .record({
      identity: arbIdentity,
      events: fc.array(arbEvent, { maxLength: 6 }),
      clock: fc.option(arbClock, { nil: undefined }),
      custody: fc.boolean(),
      reply: arbPushReply,
    })
    .map(({ identity, events, clock: c, custody, reply }) => ({
      request: { ...identity, events, ...(c === undefined ? {} : { clock: c }), ...(custody ? { custody: true } : {}) },
      reply,
    })),
  'snapshot-push': fc.record({ request: arbChunk, reply: arbPushReply }),
  'snapshot-pull': fc.record({
    request: fc.option(fc.record({ snapshotId: fc.string({ minLength: 1, maxLength: 64 }), index: fc.nat(1000) }).map(plain), { nil: undefined }).map((pull) => pull ?? { index: 0 }),
    reply: arbChunk,
  }),
  probe: fc.record({
    request: fc.constant({}),
    reply: fc.record({ identity: arbIdentity, clock: arbClock }).map(({ identity, clock: c }) => ({ ...identity, status: 'ok' as const, clock: c })),
  }),
  'view-add': arbViewChange,
  'view-delete': arbViewChange,
};

test('the generators cover every rpc of the table', () => {
  assert.equal(Object.keys(arbitraries).sort(), [...rpcNames].sort());
});

for (const name of rpcNames) {
  test(`${name}: every generated request and reply survives the codec unchanged`, () => {
    fc.assert(
      fc.property(arbitraries[name] as fc.Arbitrary<Exchange<RpcName>>, ({ request, reply }) => roundTrip(name, request, reply)),
      { numRuns: 200 },
    );
  });
}

test.run();
