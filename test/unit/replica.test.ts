import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Address } from '../../events/ids.ts';
import { eventId, type KvEvent } from '../../events/kv-event.ts';
import type { PushReply } from '../../events/peer-messages.ts';
import { exchangeOf, type PeerMessage, type RpcName } from '../../events/peer-rpc.ts';
import { clockCovers, compareClocks, emptyClock, type VectorClock } from '../../events/vector-clock.ts';
import { compareEvents } from '../../src/core/conflict-order.ts';
import { viewEntries } from '../../src/core/kv-view.ts';
import { Replica, type Send } from '../../src/core/replica.ts';
import { snapshotChunkEntries } from '../../src/core/snapshot-source.ts';
import { ViewFullError } from '../../src/core/view-full-error.ts';
import type { ReplicaNode } from '../../src/node/replica-node.ts';
import { VirtualTime } from './virtual-time.ts';
import { SimHost } from '../simulation/host.ts';
import { SimNetwork } from '../simulation/network.ts';
import { emptyStats } from '../simulation/report.ts';
import { Random } from '../support/random.ts';
import { addresses, deliver, exchangeAll, readableContents, testLimits, testSettings, viewAsObject } from './support.ts';

const [A, B, C] = [addresses[0]!, addresses[1]!, addresses[2]!];
const holdDownMs = testSettings.linkHoldDownMs;

function replica(self: Address, incarnation = 'a', view: readonly Address[] = [A, B, C], now = 0, settings = testSettings): Replica {
  return storedAtOnce(new Replica({ self, incarnation, boot: incarnation, initialView: view, limits: testLimits, settings, now }));
}

/** As with no DATA_DIR: every own write counts as stored as soon as it is made. */
function storedAtOnce(r: Replica): Replica {
  r.onDelivered = (events) => {
    const last = events.at(-1)!;
    if (last.origin === r.id) r.ownStoredUpTo(last.seq);
    r.storedUpTo(r.clock);
  };
  return r;
}

/** A hand-made push of `events` from `from` (its identity and clock), answered by `to`. */
function pushTo(from: Replica, to: Replica, events: readonly KvEvent[], now: number, custody = false): PushReply {
  return to.handle({ rpc: 'push', request: { from: from.self, incarnation: from.incarnation, events, clock: from.clock, ...(custody ? { custody: true } : {}) } }, now);
}

/** `from` announces its life to `to`, as its start does (`PUT /view` with its identity and clock). */
function announce(from: { self: Address; incarnation: string; clock: VectorClock }, to: Replica, now: number): string {
  return to.handle({ rpc: 'view-add', request: { address: from.self, origin: { from: from.self, incarnation: from.incarnation, clock: from.clock } } }, now).result;
}

type SendOf<K extends RpcName> = Send & { readonly message: Extract<PeerMessage, { rpc: K }> };

function sendsOf<K extends RpcName>(sends: readonly Send[], rpc: K, to?: Address): SendOf<K>[] {
  return sends.filter((send): send is SendOf<K> => send.message.rpc === rpc && (to === undefined || send.to === to));
}

const pushesTo = (sends: readonly Send[], to: Address) => sendsOf(sends, 'push', to);

/** Tells `r` how `send` ended: answered by `target` (across the codec), or timed out when there is none. */
function answer(r: Replica, send: Send, target: Replica | undefined, now: number): void {
  r.onReply(send, exchangeOf(send.message, target === undefined ? { ok: false, reason: 'timeout' } : deliver(target, send.message, now)), now);
}

const probeMessage: PeerMessage = { rpc: 'probe', request: {} };

/** One probe from `r`, sent at `sentAt`, ending at `now`: answered by `to` when `ok` and `to` is a replica, else timed out. */
function probe(r: Replica, to: Replica | Address, ok: boolean, now: number, sentAt = now): void {
  const address = typeof to === 'string' ? to : to.self;
  const outcome = ok && typeof to !== 'string' ? { ok: true as const, reply: to.handle({ rpc: 'probe', request: {} }, now) } : { ok: false as const, reason: 'timeout' };
  r.onReply({ to: address, message: probeMessage, sentAt }, exchangeOf(probeMessage, outcome), now);
}

const valueOf = (event: KvEvent | undefined) => (event?.type === 'put' ? event.value : undefined);

function sameClock(a: VectorClock, b: VectorClock): boolean {
  return compareClocks(a, b) === 'equal';
}

// ------------------------------------------------------------------ client operations

test('write() makes an event after everything delivered and delivers it locally', () => {
  const a = replica(A);
  const first = a.write('k', 1, emptyClock);
  const second = a.write('k', 2, first.event.clock);
  assert.is(first.previous, undefined);
  assert.is(second.previous, first.event);
  assert.is(second.event.seq, 2);
  assert.is(second.event.clock[a.id], 2);
  assert.ok(Object.isFrozen(second.event));
  assert.ok(sameClock(a.clock, second.event.clock));
  assert.is(a.logLength, 2);
  assert.is(a.liveKeys, 1);
});

test('write() and read() answer with metadata that covers the input metadata and the version', () => {
  const a = replica(A);
  const b = replica(B);
  const fromB = b.write('other', 'x', emptyClock).event;
  pushTo(b, a, [fromB], 0);
  const input = fromB.clock;
  const written = a.write('k', { v: 1 }, input).event;
  assert.ok(clockCovers(written.clock, input), 'write metadata covers the input');
  assert.ok((written.clock[a.id] ?? 0) >= written.seq, 'and the new version');
  const read = a.read('k', emptyClock);
  assert.is(read.found, written);
  assert.ok(clockCovers(read.metadata, written.clock), 'read metadata covers the version read');
  const readWithInput = a.read('other', input);
  assert.ok(clockCovers(readWithInput.metadata, input));
  assert.ok(clockCovers(readWithInput.metadata, fromB.clock));
});

test('read() of a key never written answers not found with the input metadata', () => {
  const a = replica(A);
  a.write('x', 1, emptyClock);
  const result = a.read('nothing', emptyClock);
  assert.is(result.found, undefined);
  assert.ok(sameClock(result.metadata, emptyClock), 'no more than needed');
});

test('read() of a deleted key answers not found with metadata covering the tombstone', () => {
  const a = replica(A);
  const putEvent = a.write('k', 'v', emptyClock).event;
  const deleteEvent = a.write('k', undefined, putEvent.clock);
  assert.is(deleteEvent.event.type, 'delete');
  assert.is(deleteEvent.previous, putEvent);
  const result = a.read('k', emptyClock);
  assert.is(result.found, undefined);
  assert.ok(clockCovers(result.metadata, deleteEvent.event.clock));
  assert.is(a.liveKeys, 0);
});

test('read() and write() refuse to serve metadata that is not delivered yet: that is a bug in the caller', () => {
  const a = replica(A);
  const b = replica(B);
  const ahead = b.write('k', 1, emptyClock).event.clock;
  assert.not.ok(a.covers(ahead));
  assert.throws(() => a.read('k', ahead), /invariant violated/);
  assert.throws(() => a.write('k', 2, ahead), /invariant violated/);
});

// ------------------------------------------------------------------ write acknowledgements

test('a write waits for its acknowledgement until another replica holds it, and the answers go in order', () => {
  const a = replica(A, 'a', [A, B]);
  const b = replica(B, 'a', [A, B]);
  const first = a.write('k', 1, emptyClock).event;
  const second = a.write('j', 2, a.clock).event;
  assert.is(a.awaitAck(first.seq, 0), 'parked');
  assert.is(a.awaitAck(second.seq, 0), 'parked');
  assert.is(a.writesAwaitingAck, 2);
  assert.equal(a.takeAcknowledged(0).acknowledged, [], 'no other replica holds them yet');
  assert.is(a.ownWritesSettledUpTo(), 0);
  exchangeAll([a, b], 1);
  assert.is(a.ownWritesSettledUpTo(), 2);
  assert.equal(a.takeAcknowledged(1), { acknowledged: [1, 2], unstored: [] });
  assert.is(a.writesAwaitingAck, 0);
  const third = a.write('k', 3, a.clock).event;
  exchangeAll([a, b], 2);
  assert.is(a.awaitAck(third.seq, 2), 'answer', 'a write another replica already holds is answered at once');
});

test('a write no other replica takes is answered at its deadline, which is a wake-up time', () => {
  const a = replica(A, 'a', [A, B]);
  const write = a.write('k', 1, emptyClock).event;
  a.poll(0);
  assert.is(a.awaitAck(write.seq, 10), 'parked');
  const deadline = 10 + testSettings.writeAckTimeoutMs;
  assert.ok(a.nextWakeAt(11) <= deadline);
  assert.equal(a.takeAcknowledged(deadline - 1).acknowledged, []);
  assert.equal(a.takeAcknowledged(deadline), { acknowledged: [1], unstored: [] });
  assert.not.ok(a.isReplicated(write), 'answered anyway: the write is delivered here');
});

test('a replica alone in its view acknowledges its writes at once', () => {
  const a = replica(A, 'a', [A]);
  const write = a.write('k', 1, emptyClock).event;
  assert.not.ok(a.hasPeerInView());
  assert.is(a.ownWritesSettledUpTo(), write.seq, 'every write it made and stored');
  assert.is(a.awaitAck(write.seq, 0), 'answer');
});

// ------------------------------------------------------------------ causal delivery

test('pushed events wait until their causal past arrives', () => {
  const a = replica(A);
  const b = replica(B);
  const c = replica(C);
  const e1 = a.write('k', 1, emptyClock).event;
  const e2 = a.write('k', 2, e1.clock).event;
  pushTo(a, b, [e1], 0);
  const f1 = b.write('j', 1, b.clock).event; // depends on e1
  pushTo(b, c, [f1], 0);
  assert.is(c.pendingSize, 1);
  assert.ok(sameClock(c.clock, emptyClock), 'f1 waits for e1');
  const reply = pushTo(a, c, [e2], 0);
  assert.is(reply.type, 'accepted');
  assert.is(c.pendingSize, 2);
  assert.is(c.read('j', emptyClock).found, undefined);
  pushTo(a, c, [e1], 0);
  assert.is(c.pendingSize, 0);
  assert.ok(sameClock(c.clock, { [a.id]: 2, [b.id]: 1 }));
  assert.is(valueOf(c.read('k', emptyClock).found), 2);
  assert.is(c.read('j', emptyClock).found, f1);
  // The log holds each origin in order, each event after its causal past.
  const logged = [...c.logEvents()];
  assert.is(logged.length, 3);
  assert.ok(logged.indexOf(e1) < logged.indexOf(f1));
});

test('a push ignores duplicates, in one batch and across batches', () => {
  const a = replica(A);
  const b = replica(B);
  const e1 = a.write('k', 1, emptyClock).event;
  const e2 = a.write('k', 2, e1.clock).event;
  pushTo(a, b, [e2, e1, e2, e1], 0);
  assert.is(b.deliveredCount, 2);
  const reply = pushTo(a, b, [e1, e2], 0);
  assert.equal(reply, { type: 'accepted', from: B, incarnation: 'a', clock: b.clock });
  assert.is(b.deliveredCount, 2);
  assert.is(b.logLength, 2);
  assert.is(b.pendingSize, 0);
});

test('a push is answered with the delivered clock, which tells the sender what to send next', () => {
  const a = replica(A);
  const b = replica(B);
  a.write('k', 1, emptyClock);
  a.write('k', 2, a.clock);
  const [push] = pushesTo(a.poll(0), B);
  assert.ok(push);
  assert.is(push.message.request.events.length, 2);
  assert.ok(sameClock(push.message.request.clock ?? emptyClock, a.clock), "a push carries the sender's clock");
  answer(a, push, b, 0);
  assert.equal(pushesTo(a.poll(1), B), [], 'nothing left to send to B');
});

test('a lost push is sent again after the anti-entropy interval', () => {
  const a = replica(A);
  a.write('k', 1, emptyClock);
  const [push] = pushesTo(a.poll(0), B);
  assert.ok(push);
  a.onReply(push, exchangeOf(push.message, { ok: false, reason: 'timeout' }), 10);
  assert.equal(pushesTo(a.poll(11), B), []);
  const again = pushesTo(a.poll(10 + testSettings.antiEntropyIntervalMs), B);
  assert.is(again.length, 1);
  assert.equal(again[0]!.message.request.events, push.message.request.events);
});

test('three replicas exchanging messages converge on every write', () => {
  const rs = [replica(A), replica(B), replica(C)];
  rs[0]!.write('k', 'from a', emptyClock);
  rs[1]!.write('k', 'from b', emptyClock);
  rs[2]!.write('j', 'from c', emptyClock);
  exchangeAll(rs, 0);
  for (const r of rs) assert.ok(sameClock(r.clock, rs[0]!.clock));
  assert.equal(viewAsObject(rs[1]!.viewSnapshot()), viewAsObject(rs[0]!.viewSnapshot()));
  assert.equal(viewAsObject(rs[2]!.viewSnapshot()), viewAsObject(rs[0]!.viewSnapshot()));
});

test("poll() pushes its own events at once, and relays other origins' events only after an anti-entropy interval", () => {
  const a = replica(A);
  const b = replica(B);
  for (const [x, y] of [[a, b], [b, a]] as const) probe(x, y, true, 0);
  const write = a.write('k', 1, emptyClock).event;
  const fromA = sendsOf(a.poll(1), 'push');
  assert.equal(fromA.map((p) => p.to).sort(), [B, C]);
  pushTo(a, b, [write], 1);
  assert.equal(sendsOf(b.poll(2), 'push'), [], 'B knows A has it (the push said so), and waits before relaying to C');
  const relay = sendsOf(b.poll(2 + testSettings.antiEntropyIntervalMs), 'push');
  assert.equal(
    relay.map((p) => p.to),
    [C],
    'C still lacks it an interval later: B relays it',
  );
});

test('an own push carries the part of its causal past the peer lacks, so the peer can deliver it at once', () => {
  const a = replica(A);
  const b = replica(B);
  const c = replica(C);
  for (const [x, y] of [[a, b], [b, a], [a, c], [c, a]] as const) probe(x, y, true, 0);
  const fromC = c.write('x', 1, emptyClock).event;
  pushTo(c, a, [fromC], 1);
  const own = a.write('y', 2, a.clock).event;
  const toB = pushesTo(a.poll(2), B)[0]!;
  assert.equal(toB.message.request.events.map(eventId), [eventId(fromC), eventId(own)]);
  const reply = b.handle(toB.message, 2);
  assert.ok(clockCovers(reply.clock, own.clock), 'B delivered both');
});

// ------------------------------------------------------------------ link hold-down

/** A has seen B up, then a failure: A holds the link to B down from `at`. */
function holdDown(a: Replica, b: Replica, at: number): void {
  probe(a, b, true, at - 1);
  probe(a, b.self, false, at);
}

function linkTo(r: Replica, address: Address, now: number) {
  return r.describe(now).peers.find((peer) => peer.address === address)!;
}

test('a push is refused with held-down and nothing is applied while the link is held down', () => {
  const a = replica(A);
  const b = replica(B);
  holdDown(a, b, 1000);
  const event = b.write('k', 1, emptyClock).event;
  const reply = pushTo(b, a, [event], 2000);
  assert.is(reply.type, 'held-down');
  assert.is(reply.type === 'held-down' && reply.remainingMs, holdDownMs - 1000);
  assert.is(reply.from, A);
  assert.is(a.pendingSize, 0);
  assert.ok(sameClock(a.clock, emptyClock));
  const chunk = a.handle(
    { rpc: 'snapshot-push', request: { from: B, incarnation: 'a', snapshotId: 'a-1', index: 0, last: true, clock: event.clock, view: [A, B], entries: [event] } },
    2000,
  );
  assert.is(chunk.type, 'held-down', 'snapshots are refused too');
  assert.ok(sameClock(a.clock, emptyClock));
  assert.is(pushTo(b, a, [event], 1000 + holdDownMs).type, 'accepted', 'accepted once the hold-down is over');
  assert.ok(sameClock(a.clock, event.clock));
});

test('a replica does not push to a peer whose link it holds down, but goes on probing it', () => {
  const a = replica(A, 'a', [A, B]);
  const b = replica(B, 'a', [A, B]);
  holdDown(a, b, 1000);
  a.write('k', 1, emptyClock);
  const sends = a.poll(2000);
  assert.equal(sendsOf(sends, 'push'), []);
  assert.is(sendsOf(sends, 'probe').length, 1, 'the suspect peer is probed');
  assert.is(sendsOf(a.poll(1000 + holdDownMs), 'push').length, 1);
});

test('a held-down answer makes the sender wait exactly the remaining time', () => {
  const a = replica(A, 'a', [A, B]);
  const b = replica(B, 'a', [A, B]);
  holdDown(a, b, 1000);
  b.write('k', 1, emptyClock);
  const [push] = sendsOf(b.poll(2000), 'push');
  assert.ok(push);
  answer(b, push, a, 2000);
  const during = sendsOf(b.poll(5999), 'push');
  assert.ok(
    during.every((p) => p.message.request.custody === true),
    'while held down, only custody pushes (for durability) go out',
  );
  assert.is(linkTo(b, A, 2000).link.heldDownRemainingMs, 4000);
  const after = sendsOf(b.poll(6000), 'push');
  assert.is(after.length + during.length, 1);
});

test('a held-down peer keeps our unreplicated writes in custody, unapplied, and applies them when the hold-down ends', () => {
  const a = replica(A, 'a', [A, B]);
  const b = replica(B, 'a', [A, B]);
  for (const [x, y] of [[a, b], [b, a]] as const) probe(x, y, true, 0);
  holdDown(a, b, 1000);
  const write = b.write('k', 1, emptyClock).event;
  const first = pushesTo(b.poll(2000), A)[0]!;
  b.onReply(first, exchangeOf(first.message, { ok: true, reply: a.handle(first.message, 2000) }), 2000);
  assert.not.ok(b.isReplicated(write), 'a plain push on a held-down link is refused and not kept');
  const custody = pushesTo(b.poll(2001), A)[0]!;
  assert.ok(custody.message.request.custody, 'the write no replica holds is offered for custody');
  const reply = a.handle(custody.message, 2001);
  assert.is(reply.type, 'held-down');
  assert.is(reply.type === 'held-down' && reply.custodySeq, 1);
  assert.is(a.read('k', emptyClock).found, undefined, 'custody is not applied during the hold-down');
  assert.equal(a.custodyHeld(), { [b.id]: 1 });
  b.onReply(custody, exchangeOf(custody.message, { ok: true, reply }), 2001);
  assert.ok(b.isReplicated(write), 'a write in custody counts as held by another replica');
  assert.is(b.ownWritesSettledUpTo(), 1, 'so it may be acknowledged');
  assert.equal(pushesTo(b.poll(2002), A), [], 'nothing more to offer');
  a.poll(5999);
  assert.is(a.read('k', emptyClock).found, undefined);
  a.poll(6000);
  assert.is(valueOf(a.read('k', emptyClock).found), 1, 'applied once the hold-down has ended');
  assert.equal(a.custodyHeld(), {});
});

test('custody is applied at once when its owner is declared failed (the crash it was kept for)', () => {
  const a = replica(A, 'a', [A, B]);
  const b = replica(B, 'a', [A, B]);
  for (const [x, y] of [[a, b], [b, a]] as const) probe(x, y, true, 0);
  holdDown(a, b, 1000);
  b.write('k', 1, emptyClock);
  pushTo(b, a, [...b.logEvents()], 1001, true);
  assert.is(a.read('k', emptyClock).found, undefined);
  for (let i = 2; i <= testSettings.probeMissesMax + 1; i++) probe(a, B, false, 1000 + i);
  a.poll(1010);
  assert.not.ok(a.inView(B));
  assert.is(valueOf(a.read('k', emptyClock).found), 1, "the crashed writer's acknowledged write survives");
});

test('a peer announcing a new incarnation clears the hold-down', () => {
  const a = replica(A);
  const b = replica(B);
  b.write('k', 1, emptyClock);
  exchangeAll([a, b], 0);
  holdDown(a, b, 1000);
  assert.is(linkTo(a, B, 1500).link.state, 'held-down');
  const restarted = replica(B, 'b2');
  assert.is(announce(restarted, a, 1600), 'already present');
  const peer = linkTo(a, B, 1600);
  assert.is(peer.link.state, 'up');
  assert.is(peer.incarnation, 'b2');
  assert.equal(peer.knownDelivered, {}, 'what it knew of the old life is replaced by the announced clock');
  const event = restarted.write('k', 1, emptyClock).event;
  assert.is(pushTo(restarted, a, [event], 1700).type, 'accepted');
  assert.ok(a.covers(event.clock));
  // Failures of requests sent before the announcement say nothing of the new life.
  probe(a, B, false, 1800, 1590);
  assert.is(linkTo(a, B, 1800).link.state, 'up');
  assert.is(pushTo(restarted, a, [], 1900).type, 'accepted');
  // Failures of requests sent after it do count.
  probe(a, B, false, 2000, 1700);
  assert.is(pushTo(restarted, a, [], 2100).type, 'held-down');
});

test('the first push of a new life is accepted even when it overtakes the announcement', () => {
  const a = replica(A);
  const b = replica(B);
  holdDown(a, b, 1000);
  const restarted = replica(B, 'b2');
  const event = restarted.write('k', 1, emptyClock).event;
  const reply = pushTo(restarted, a, [event], 1500);
  assert.is(reply.type, 'accepted');
  assert.ok(a.covers(event.clock));
  // The announcement that follows changes nothing more.
  announce({ self: B, incarnation: 'b2', clock: emptyClock }, a, 1600);
  assert.is(linkTo(a, B, 1600).link.state, 'up');
});

test('a peer announcing its new incarnation is not held down even if a probe met the new life first', () => {
  const a = replica(A);
  const b = replica(B);
  holdDown(a, b, 1000);
  const restarted = replica(B, 'b2');
  probe(a, restarted, true, 1500); // the restarted process is listening before it announces itself
  announce(restarted, a, 1600);
  assert.is(pushTo(restarted, a, [], 1700).type, 'accepted');
});

test('announcing the same incarnation again does not lift a hold-down', () => {
  const a = replica(A);
  const b = replica(B);
  announce(b, a, 0);
  holdDown(a, b, 1000);
  announce(b, a, 1100);
  assert.is(pushTo(b, a, [], 1200).type, 'held-down');
});

// ------------------------------------------------------------------ membership and failure detection

test('addToView() and removeFromView() answer as the view API does', () => {
  const a = replica(A, 'a', [A]);
  assert.equal(a.view(), [A]);
  assert.is(a.addToView(B, undefined, 0), 'added');
  assert.is(a.addToView(B, undefined, 0), 'already present');
  assert.is(a.addToView(A, undefined, 0), 'already present');
  assert.equal(a.view(), [A, B]);
  assert.is(a.removeFromView(B, undefined), 'deleted');
  assert.is(a.removeFromView(B, undefined), 'absent');
  assert.is(a.removeFromView(C, undefined), 'absent');
  assert.is(a.removeFromView(A, { from: B, incarnation: 'a' }), 'deleted');
  assert.ok(a.inView(A), 'a peer cannot talk a replica out of its own view');
  assert.is(a.removeFromView(A, undefined), 'deleted');
  assert.not.ok(a.inView(A));
  assert.is(a.addToView(A, undefined, 0), 'added');
  assert.equal(a.handle({ rpc: 'view-add', request: { address: C } }, 0), { result: 'added' }, 'the same answers as view messages');
  assert.equal(a.handle({ rpc: 'view-delete', request: { address: C } }, 0), { result: 'deleted' });
});

test('addToView() refuses to grow the view past viewMembersMax', () => {
  const a = new Replica({ self: A, incarnation: 'a', boot: 'a', initialView: [A], limits: { ...testLimits, viewMembersMax: 2 }, settings: testSettings, now: 0 });
  assert.is(a.addToView(B, undefined, 0), 'added');
  assert.throws(
    () => a.addToView(C, undefined, 0),
    (error: unknown) => error instanceof ViewFullError,
  );
  assert.equal(a.view(), [A, B]);
});

test('a peer missing probeMissesMax probes leaves the view and the others are told', () => {
  const a = replica(A);
  const b = replica(B);
  const c = replica(C);
  for (let i = 0; i < testSettings.probeMissesMax - 1; i++) probe(a, C, false, 100 * (i + 1));
  assert.ok(a.inView(C), 'still in the view after fewer misses');
  assert.equal(sendsOf(a.poll(250), 'view-delete'), []);
  probe(a, C, false, 1000);
  assert.not.ok(a.inView(C));
  const deletes = sendsOf(a.poll(1000), 'view-delete');
  assert.equal(
    deletes.map((send) => [send.to, send.message.request.address]),
    [[B, C]],
  );
  assert.equal(deletes[0]!.message.request.origin, { from: A, incarnation: 'a' });
  answer(a, deletes[0]!, b, 1000);
  assert.not.ok(b.inView(C));
  // Both keep probing C; it comes back when it answers.
  assert.ok(sendsOf(a.poll(5000), 'probe', C).length > 0);
  assert.ok(sendsOf(b.poll(5000), 'probe', C).length > 0);
  probe(a, c, true, 5000);
  assert.ok(a.inView(C));
  assert.equal(a.view(), [A, B, C]);
});

test('a probe that failed but was sent before the last success is not a miss', () => {
  const a = replica(A);
  const c = replica(C);
  probe(a, c, true, 500);
  for (let i = 0; i < testSettings.probeMissesMax + 1; i++) probe(a, C, false, 600 + i, 400);
  assert.ok(a.inView(C));
  assert.is(linkTo(a, C, 700).missedProbes, 0);
});

test('a probe answered by another address counts as a failure', () => {
  const a = replica(A);
  const b = replica(B);
  for (let i = 0; i < testSettings.probeMissesMax; i++) {
    a.onReply({ to: C, message: probeMessage, sentAt: i }, exchangeOf(probeMessage, { ok: true, reply: b.handle({ rpc: 'probe', request: {} }, i) }), i);
  }
  assert.not.ok(a.inView(C));
});

test('a peer a client removed is forgotten: not probed, not re-added by a probe', () => {
  const a = replica(A);
  const c = replica(C);
  a.removeFromView(C, undefined);
  assert.equal(sendsOf(a.poll(0), 'probe', C), []);
  probe(a, c, true, 10);
  assert.not.ok(a.inView(C));
});

test('isReplicated() and hasPeerInView() follow what the peers said', () => {
  const a = replica(A, 'a', [A, B]);
  const b = replica(B, 'a', [A, B]);
  const event = a.write('k', 1, emptyClock).event;
  assert.not.ok(a.isReplicated(event));
  assert.ok(a.hasPeerInView());
  exchangeAll([a, b], 0);
  assert.ok(a.isReplicated(event));
  holdDown(a, b, 10);
  assert.ok(a.hasPeerInView(), 'a held-down peer still in the view may take the write in custody');
  for (let i = 1; i <= testSettings.probeMissesMax; i++) probe(a, B, false, 10 + i);
  assert.not.ok(a.hasPeerInView(), 'alone once failure detection removed the peer');
});

test('nextWakeAt() is when a probe or a retry is due', () => {
  const a = replica(A, 'a', [A, B]);
  const [sent] = sendsOf(a.poll(0), 'probe');
  assert.ok(sent);
  assert.is(a.nextWakeAt(0), testSettings.probeIntervalMs);
  a.onReply(sent, exchangeOf(sent.message, { ok: false, reason: 'x' }), 10);
  assert.is(a.nextWakeAt(10), 10 + testSettings.suspectProbeIntervalMs);
  assert.is(a.nextWakeAt(100_000), 100_000, 'never in the past');
});

// ------------------------------------------------------------------ joining

test('a starting replica pulls a snapshot in chunks from the first peer of its view, then announces itself with its clock', () => {
  const b = replica(B);
  for (let i = 0; i < 5; i++) b.write(`k${i}`, i, b.clock);
  const a = replica(A);
  a.start(0);
  assert.not.ok(a.joined);
  const [first] = sendsOf(a.poll(0), 'snapshot-pull');
  assert.ok(first);
  assert.is(first.to, B);
  assert.equal(first.message.request, { index: 0 });
  assert.is(first.timeoutMs, testSettings.joinTimeoutMs, 'the pull ends at the join deadline');
  assert.equal(sendsOf(a.poll(0), 'view-add'), [], 'no announcement while pulling');
  answer(a, first, b, 0);
  const [second] = sendsOf(a.poll(1), 'snapshot-pull');
  assert.ok(second);
  assert.equal(second.message.request, { snapshotId: `a-1`, index: 1 }, 'the next chunk of the same cut');
  assert.not.ok(a.joined);
  answer(a, second, b, 1);
  assert.ok(a.joined);
  assert.equal(a.joinState, { kind: 'joined', how: 'snapshot' });
  assert.ok(sameClock(a.clock, b.clock));
  assert.equal(viewAsObject(a.viewSnapshot()), viewAsObject(b.viewSnapshot()));
  const sends = a.poll(2);
  const announces = sendsOf(sends, 'view-add');
  assert.equal(
    announces.map((send) => send.to),
    [B, C],
  );
  assert.equal(announces[0]!.message.request, { address: A, origin: { from: A, incarnation: 'a', clock: a.clock, boot: 'a' } });
  assert.equal(sendsOf(sends, 'snapshot-pull'), [], 'one pull, ever');
  assert.equal(pushesTo(a.poll(2 + testSettings.antiEntropyIntervalMs), B), [], 'the sender is known to have what it sent');
});

test('a joiner learns the members its snapshot sender had, and announces itself to them too', () => {
  const b = replica(B, 'a', [A, B, C]);
  const a = replica(A, 'a', [A, B]);
  a.start(0);
  const sends = exchangeAll([a, b], 0);
  assert.equal(a.view(), [A, B, C]);
  assert.equal(
    sendsOf(sends, 'view-add').map((send) => send.to),
    [B, C],
  );
});

test('a starting replica that no peer serves tries each in turn, then joins with what it has', () => {
  const a = replica(A);
  a.start(0);
  const sends = exchangeAll([a], 0);
  assert.equal(
    sendsOf(sends, 'snapshot-pull').map((send) => send.to),
    [B, C],
  );
  assert.ok(a.joined);
  assert.equal(a.joinState, { kind: 'joined', how: 'no-peer-answered' });
  assert.equal(
    sendsOf(sends, 'view-add').map((send) => send.to),
    [B, C],
  );
});

test('a starting replica alone in its view joins at once', () => {
  const a = replica(A, 'a', [A]);
  a.start(0);
  assert.ok(a.joined);
  assert.equal(a.joinState, { kind: 'joined', how: 'alone' });
  assert.equal(a.poll(0), []);
});

test('a pull unanswered at the join deadline ends the join: the replica joins with what it has', () => {
  const a = replica(A);
  a.start(0);
  const [pull] = sendsOf(a.poll(0), 'snapshot-pull');
  assert.ok(pull);
  a.onReply(pull, exchangeOf(pull.message, { ok: false, reason: 'timed out' }), testSettings.joinTimeoutMs);
  const sends = a.poll(testSettings.joinTimeoutMs);
  assert.equal(sendsOf(sends, 'snapshot-pull'), [], 'the next candidate is not asked past the deadline');
  assert.equal(a.joinState, { kind: 'joined', how: 'timed-out' });
  assert.is(sendsOf(sends, 'view-add').length, 2);
});

/** A new life of `self` whose peers did not answer its pull before the join deadline: it starts with nothing. */
function startedWithoutSnapshot(self: Address, incarnation: string): Replica {
  const r = replica(self, incarnation);
  r.start(0);
  for (const pull of sendsOf(r.poll(0), 'snapshot-pull')) r.onReply(pull, exchangeOf(pull.message, { ok: false, reason: 'timed out' }), testSettings.joinTimeoutMs);
  r.poll(testSettings.joinTimeoutMs);
  assert.equal(r.joinState, { kind: 'joined', how: 'timed-out' });
  return r;
}

test('a life that started without a snapshot writes again, once caught up, a key it put before that lost here to a delete it never saw', () => {
  const a = replica(A);
  const put = a.write('k', 'old', a.clock).event;
  const del = a.write('k', undefined, a.clock).event;
  const b = startedWithoutSnapshot(B, 'b2');
  const now = testSettings.joinTimeoutMs;
  const blind = b.write('k', 'new', b.clock).event;
  assert.ok(compareEvents(del, blind) > 0, 'the delete comes later in the conflict order');
  pushTo(a, b, [put, del], now);
  assert.is(b.read('k', emptyClock).found, undefined, 'here the delete wins');
  b.poll(now);
  const again = [...b.logEvents()].filter((event) => event.origin === b.id).at(-1)!;
  assert.equal([again.type, again.seq, again.key], ['delete', 2, 'k']);
  assert.ok(clockCovers(again.clock, del.clock) && clockCovers(again.clock, blind.clock), 'it follows both in causal order');
  // A replica that collected the tombstone holds the put alone: the new event wins there too.
  assert.ok(compareEvents(again, blind) > 0 && compareEvents(again, del) > 0);
  assert.is(b.rewrittenAfterCatchUp, 1);
  b.poll(now + 1000);
  assert.is(b.rewrittenAfterCatchUp, 1, 'once');
});

test('a life that started without a snapshot writes again, once caught up, a key it put before that won here because its sender had collected the tombstone', () => {
  const a = replica(A);
  a.write('k', 'old', a.clock);
  const del = a.write('k', undefined, a.clock).event;
  a.write('other', 1, a.clock);
  const b = startedWithoutSnapshot(B, 'b2');
  const blind = b.write('k', 'new', b.clock).event;
  const snapshot = a.snapshot();
  // A collected the tombstone of "k": its snapshot has no "k".
  b.installSnapshot(snapshot.entries.filter((entry) => entry.key !== 'k'), snapshot.clock, undefined, 0, A);
  assert.is(valueOf(b.read('k', emptyClock).found), 'new', 'here the put wins: nothing to compare it with');
  b.poll(testSettings.joinTimeoutMs);
  const again = [...b.logEvents()].filter((event) => event.origin === b.id).at(-1)!;
  assert.equal([again.type, again.seq, again.key, valueOf(again)], ['put', 2, 'k', 'new']);
  assert.ok(clockCovers(again.clock, del.clock), 'it follows the collected delete in causal order');
  // A replica that still holds the tombstone: the new put wins there too.
  assert.ok(compareEvents(again, del) > 0 && compareEvents(again, blind) > 0);
  assert.is(b.rewrittenAfterCatchUp, 1, 'only the key it put');
});

test("only each peer's first clock counts: its later writes rewrite nothing; a peer first heard later brings its history then", () => {
  const a = replica(A);
  const b = startedWithoutSnapshot(B, 'b2');
  const now = testSettings.joinTimeoutMs;
  b.write('k', 'mine', b.clock);
  pushTo(a, b, [], now); // A had nothing B lacked
  pushTo(a, b, [a.write('j', 1, a.clock).event], now);
  b.poll(now);
  assert.is(b.rewrittenAfterCatchUp, 0, "A's write came after A knew this life");
  // C was cut off: what it had when B first hears from it is history B never saw.
  const c = replica(C);
  c.write('k', 'theirs', c.clock);
  c.write('k', undefined, c.clock);
  pushTo(c, b, [...c.logEvents()], now);
  b.poll(now);
  assert.is(b.rewrittenAfterCatchUp, 1);
  pushTo(c, b, [c.write('k', 'later', c.clock).event], now);
  b.poll(now);
  assert.is(b.rewrittenAfterCatchUp, 1, 'once');
});

test('a life that wrote only after its join snapshot, or started alone, writes nothing again', () => {
  const a = replica(A);
  a.write('k', 'old', a.clock);
  const joiner = replica(B, 'b2');
  joiner.start(0);
  for (let i = 0; i < 10 && !joiner.joined; i++) for (const pull of sendsOf(joiner.poll(0), 'snapshot-pull')) answer(joiner, pull, a, 0);
  assert.equal(joiner.joinState, { kind: 'joined', how: 'snapshot' });
  const alone = replica(B, 'b3', [B]);
  alone.start(0);
  assert.equal(alone.joinState, { kind: 'joined', how: 'alone' });
  for (const r of [joiner, alone]) {
    r.write('k', 'new', r.clock);
    pushTo(a, r, [...a.logEvents()], 0);
    r.poll(1000);
    assert.is(r.rewrittenAfterCatchUp, 0);
  }
});

test('a cut that expired while a joiner pulled it is answered 410, and the joiner pulls a new cut from the same peer', () => {
  const settings = { ...testSettings, servedSnapshotTtlMs: 100, joinTimeoutMs: 10_000 };
  const b = replica(B, 'a', [A, B, C], 0, settings);
  for (let i = 0; i < 5; i++) b.write(`k${i}`, i, b.clock);
  const a = replica(A, 'a', [A, B, C], 0, settings);
  a.start(0);
  answer(a, sendsOf(a.poll(0), 'snapshot-pull')[0]!, b, 0);
  const late = sendsOf(a.poll(500), 'snapshot-pull')[0]!;
  assert.equal(late.message.request, { snapshotId: 'a-1', index: 1 });
  const outcome = deliver(b, late.message, 500);
  assert.equal(outcome, { ok: false, reason: 'HTTP 410', status: 410 });
  a.onReply(late, exchangeOf(late.message, outcome), 500);
  const again = sendsOf(a.poll(501), 'snapshot-pull')[0]!;
  assert.is(again.to, B);
  assert.equal(again.message.request, { index: 0 }, 'a new cut');
  answer(a, again, b, 501);
  exchangeAll([a, b], 502);
  assert.equal(a.joinState, { kind: 'joined', how: 'snapshot' });
  assert.equal(viewAsObject(a.viewSnapshot()), viewAsObject(b.viewSnapshot()));
});

test('a restarted replica joins by snapshot and announcement, and the others send it only what it lacks', () => {
  const rs = [replica(A), replica(B), replica(C)];
  const [a, b] = rs as [Replica, Replica, Replica];
  a.write('k', 1, emptyClock);
  exchangeAll(rs, 0);
  // C restarts: a new life at the same address.
  const c2 = replica(C, 'c2', [A, B, C], 100);
  c2.start(100);
  const live = [a, b, c2];
  const sends = exchangeAll(live, 100);
  assert.equal(c2.joinState, { kind: 'joined', how: 'snapshot' });
  assert.ok(a.inView(C));
  assert.is(linkTo(a, C, 100).incarnation, 'c2');
  assert.equal(pushesTo(sends, C), [], 'the announcement told the others what it has');
  assert.equal(sendsOf(sends, 'snapshot-push'), []);
  const written = c2.write('j', 2, c2.clock).event;
  exchangeAll(live, 101);
  for (const r of live) assert.ok(r.covers(written.clock));
  assert.equal(viewAsObject(c2.viewSnapshot()), viewAsObject(a.viewSnapshot()));
});

// ------------------------------------------------------------------ stability, compaction, snapshots

test('compact() drops events every replica in the view has delivered, and no others', () => {
  const rs = [replica(A), replica(B), replica(C)];
  const [a, b, c] = rs as [Replica, Replica, Replica];
  a.write('k', 1, emptyClock);
  a.write('j', 1, a.clock);
  exchangeAll(rs, 0);
  assert.is(a.compact(0), 2);
  assert.is(a.logLength, 0);
  assert.is(a.liveKeys, 2, 'the view keeps the values');
  assert.ok(sameClock(a.describe(0).stableFrontier, a.clock));
  // Now C is cut off; new events are not stable.
  a.write('k', 2, a.clock);
  exchangeAll([a, b], 10, { down: new Set([C]) });
  assert.is(a.compact(0), 0);
  assert.is(a.logLength, 1);
  assert.is(c.logLength, 2);
});

test('readLog() still shows what compaction folded a moment ago, when someone reads the log', () => {
  const rs = [replica(A), replica(B), replica(C)];
  const [a] = rs as [Replica, Replica, Replica];
  a.write('unwatched', 1, emptyClock);
  exchangeAll(rs, 0);
  assert.is(a.compact(0), 1);
  assert.equal([...a.readLog(0)], [], 'folded before anyone read the log: gone');
  a.write('watched', 2, a.clock);
  exchangeAll(rs, 10);
  assert.is(a.compact(20), 1);
  assert.is(a.logLength, 0);
  assert.equal([...a.logEvents()], []);
  assert.equal([...a.readLog(30)].map((event) => event.key), ['watched'], 'folded after a read: still shown');
  assert.equal([...a.readLog(5020)], [], 'for 5 seconds');
});

test('compact() forgets a stable tombstone, but only once nothing that loses to it can still arrive', () => {
  const rs = [replica(A), replica(B), replica(C)];
  const [a, b, c] = rs as [Replica, Replica, Replica];
  a.write('first', 1, emptyClock);
  const deleted = a.write('k', undefined, a.clock).event; // clock sum 2
  const concurrent = c.write('k', 'x', emptyClock).event; // clock sum 1: loses to the delete
  // B gets both, C gets the delete; A has not got C's write yet.
  pushTo(a, b, [...a.logEvents()], 0);
  pushTo(c, b, [concurrent], 0);
  pushTo(a, c, [...a.logEvents()], 0);
  for (const [from, to] of [[b, a], [c, a], [a, b], [c, b], [a, c], [b, c]] as const) probe(to, from, true, 1);
  assert.is(b.read('k', emptyClock).found, undefined);
  assert.is(c.read('k', emptyClock).found, undefined);
  for (const r of rs) r.compact(0);
  exchangeAll(rs, 2);
  for (const r of rs) r.compact(0);
  // C's write reaches A relayed by B (only its origin pushes at once; others relay after an interval).
  exchangeAll(rs, 3 + testSettings.antiEntropyIntervalMs);
  for (const r of rs) r.compact(0);
  for (const r of rs) {
    assert.ok(sameClock(r.clock, a.clock));
    assert.is(r.read('k', emptyClock).found, undefined, `${r.self} shows the delete, which wins`);
    assert.ok(clockCovers(r.clock, deleted.clock));
  }
  assert.equal(viewAsObject(a.viewSnapshot()), viewAsObject(b.viewSnapshot()));
  assert.equal(viewAsObject(c.viewSnapshot()), viewAsObject(b.viewSnapshot()));
  // Once every replica is known to have everything, the tombstone goes everywhere.
  for (const now of [2000, 4000, 6000]) {
    exchangeAll(rs, now);
    for (const r of rs) r.compact(0);
  }
  for (const r of rs) assert.is(r.describe(6000).tombstones, 0, `${r.self} forgot the tombstone`);
  assert.equal(viewAsObject(a.viewSnapshot()), viewAsObject(c.viewSnapshot()));
});

test('a replica cut off from all others keeps its tombstones: a losing concurrent write must not win when it comes back', () => {
  const rs = [replica(A), replica(B), replica(C)];
  const [a, b, c] = rs as [Replica, Replica, Replica];
  a.write('p', 'first', emptyClock);
  exchangeAll(rs, 0);
  c.write('c1', 1, c.clock);
  c.write('c2', 2, c.clock);
  exchangeAll(rs, 1);
  // C is cut off; meanwhile A writes `p` and C deletes it, concurrently. C's delete has the
  // larger clock sum, so it wins the conflict order.
  const isolated = new Set([C]);
  const concurrent = a.write('p', 'concurrent', a.clock).event;
  c.write('c3', 3, c.clock);
  const deleted = c.write('p', undefined, c.clock).event;
  assert.equal(compareClocks(concurrent.clock, deleted.clock), 'concurrent');
  let now = 1;
  for (let i = 0; i <= testSettings.probeMissesMax; i++) {
    now += 1000;
    exchangeAll(rs, now, { isolated });
    for (const r of rs) r.compact(0);
  }
  assert.not.ok(c.inView(A) || c.inView(B), 'C is alone in its view');
  assert.not.ok(a.inView(C));
  assert.ok(c.describe(now).tombstones > 0, 'C keeps its tombstone while cut off');
  // The link heals; everyone exchanges what the others lack.
  for (let i = 0; i < 4; i++) {
    now += testSettings.linkHoldDownMs;
    exchangeAll(rs, now);
    for (const r of rs) r.compact(0);
  }
  for (const r of rs) {
    assert.ok(sameClock(r.clock, a.clock), `${r.self} has every event`);
    assert.is(r.read('p', emptyClock).found, undefined, `${r.self}: the delete wins over the concurrent put`);
  }
  assert.equal(viewAsObject(b.viewSnapshot()), viewAsObject(a.viewSnapshot()));
  assert.equal(viewAsObject(c.viewSnapshot()), viewAsObject(a.viewSnapshot()));
});

test('a peer whose known clock is behind the log floor is sent a snapshot in chunks, and installing it converges', () => {
  const rs = [replica(A), replica(B), replica(C)];
  const [a, b, c] = rs as [Replica, Replica, Replica];
  a.write('old', 1, emptyClock);
  a.write('gone', 1, a.clock);
  exchangeAll(rs, 0);
  // C is cut off long enough to leave the views of A and B.
  let now = 0;
  for (let i = 0; i < testSettings.probeMissesMax; i++) {
    now += 300;
    exchangeAll([a, b], now, { down: new Set([C]) });
    for (const r of [a, b]) probe(r, C, false, now);
  }
  assert.not.ok(a.inView(C));
  assert.not.ok(b.inView(C));
  for (let i = 0; i < 12; i++) a.write(`k${i % 5}`, i, a.clock);
  a.write('gone', undefined, a.clock);
  b.write('old', 'b', emptyClock);
  exchangeAll([a, b], now + 1);
  assert.ok(a.compact(0) > 0);
  b.compact(0);
  assert.ok(c.read('gone', emptyClock).found, 'C still has the old value');
  // The link heals: C answers again and is taken back, past the hold-down.
  now += holdDownMs + 1000;
  const sends = exchangeAll(rs, now);
  const chunks = sendsOf(sends, 'snapshot-push');
  assert.ok(chunks.length > 1, 'C is sent a snapshot, in several chunks');
  assert.ok(chunks.every((send) => send.to === C));
  for (const r of rs) assert.ok(sameClock(r.clock, a.clock), `${r.self} has every event`);
  assert.equal(viewAsObject(c.viewSnapshot()), viewAsObject(a.viewSnapshot()));
  assert.equal(viewAsObject(b.viewSnapshot()), viewAsObject(a.viewSnapshot()));
  assert.is(c.read('gone', emptyClock).found, undefined, 'the delete reached C through the snapshot');
  assert.is(valueOf(c.read('old', emptyClock).found), 'b');
  // And after the snapshot, ordinary suffixes flow again.
  const later = c.write('after', 1, c.clock).event;
  exchangeAll(rs, now + 1);
  assert.ok(a.covers(later.clock) && b.covers(later.clock));
  assert.equal(sendsOf(exchangeAll(rs, now + 2), 'snapshot-push'), []);
});

test('installSnapshot() without a key whose tombstone its sender collected drops the key and its held events (seed 9118)', () => {
  const a = replica(A);
  const b = replica(B);
  const c = replica(C);
  a.write('x', 1, a.clock);
  a.write('x', undefined, a.clock); // a delete
  pushTo(a, b, [...a.logEvents()], 0);
  assert.equal([...b.logEvents()].map((event) => event.type), ['put', 'delete'], 'B holds the put and its delete');
  // C's snapshot: C delivered both, then collected the tombstone (so no "x"), and wrote "y".
  pushTo(a, c, [...a.logEvents()], 0);
  c.write('y', 2, c.clock);
  const snapshot = c.snapshot();
  b.installSnapshot(snapshot.entries.filter((entry) => entry.key !== 'x'), snapshot.clock);
  assert.is(b.read('x', emptyClock).found, undefined);
  assert.is(valueOf(b.read('y', emptyClock).found), 2);
  assert.equal([...b.logEvents()].filter((event) => event.key === 'x'), [], 'the events of "x" left the log with it');
  b.compact(0); // asserts that every held event is in the view or loses to it
});

test('installSnapshot() joins a snapshot in, jumps the clock and drops covered pending events', () => {
  const a = replica(A);
  const b = replica(B);
  for (let i = 0; i < 5; i++) a.write(`k${i}`, i, a.clock);
  const events = [...a.logEvents()];
  pushTo(a, b, events.slice(3), 0);
  assert.is(b.pendingSize, 2);
  const snapshot = a.snapshot();
  assert.equal(snapshot.view, [A, B, C]);
  b.installSnapshot(snapshot.entries, snapshot.clock);
  assert.is(b.pendingSize, 0);
  assert.ok(sameClock(b.clock, a.clock));
  assert.equal(viewAsObject(b.viewSnapshot()), viewAsObject(a.viewSnapshot()));
  assert.is(b.logLength, 0, 'events folded in by a snapshot are not held');
  b.installSnapshot(snapshot.entries, snapshot.clock);
  assert.ok(sameClock(b.clock, a.clock), 'installing again changes nothing');
  // B cannot send a suffix it never held; a peer lacking it gets a snapshot from B too.
  const c = replica(C);
  probe(b, c, true, 0);
  b.poll(1); // events of another origin are relayed only after an anti-entropy interval
  const toC = b.poll(1 + testSettings.antiEntropyIntervalMs).filter((send) => send.to === C && (send.message.rpc === 'push' || send.message.rpc === 'snapshot-push'));
  assert.is(toC[0]?.message.rpc, 'snapshot-push');
});

test('snapshot chunks pushed by a peer are staged in order and installed on the last one', () => {
  const a = replica(A);
  const b = replica(B);
  for (let i = 0; i < 7; i++) a.write(`k${i}`, i, a.clock);
  const source = a.snapshot();
  const chunks = [0, 1, 2].map((index) => ({ index, ...snapshotChunkEntries(source, index, 3) }));
  assert.equal(
    chunks.map((chunk) => [chunk.entries.length, chunk.last]),
    [
      [3, false],
      [3, false],
      [1, true],
    ],
  );
  const send = (index: number, snapshotId = source.snapshotId) => {
    const chunk = chunks[index]!;
    return b.handle(
      {
        rpc: 'snapshot-push',
        request: { from: A, incarnation: 'a', snapshotId, index, last: chunk.last, clock: source.clock, view: source.view, entries: chunk.entries },
      },
      0,
    );
  };
  send(0);
  send(2); // out of order: ignored
  assert.ok(sameClock(b.clock, emptyClock));
  send(1);
  const reply = send(2);
  assert.is(reply.type, 'accepted');
  assert.ok(sameClock(reply.clock, a.clock));
  assert.equal(viewAsObject(b.viewSnapshot()), viewAsObject(a.viewSnapshot()));
  assert.is([...viewEntries(b.viewSnapshot())].length, 7);
});

test('a chunk of another snapshot drops what was staged of the first', () => {
  const a = replica(A);
  const b = replica(B);
  for (let i = 0; i < 4; i++) a.write(`k${i}`, i, a.clock);
  const source = a.snapshot();
  const chunk = (index: number, snapshotId: string) => {
    const { entries, last } = snapshotChunkEntries(source, index, 3);
    return b.handle({ rpc: 'snapshot-push', request: { from: A, incarnation: 'a', snapshotId, index, last, clock: source.clock, view: source.view, entries } }, 0);
  };
  chunk(0, 'a-1');
  chunk(1, 'a-2'); // another cut: what was staged of a-1 is dropped, and this chunk does not start a-2
  assert.ok(sameClock(b.clock, emptyClock));
  chunk(0, 'a-2');
  chunk(1, 'a-2');
  assert.ok(sameClock(b.clock, a.clock));
  assert.is([...viewEntries(b.viewSnapshot())].length, 4);
});

// ------------------------------------------------------------------ the production node over the simulated network

/**
 * A tiny world for a few production ReplicaNodes (SimHost) over the simulated network (SimNetwork):
 * virtual time, a queue of what is due, no faults unless a test makes them. It records every
 * message each address received.
 */
class TinyWorld extends VirtualTime {
  readonly network: SimNetwork;
  readonly hosts: SimHost[];
  readonly received = new Map<Address, PeerMessage[]>();

  constructor(view: readonly Address[], seed = 1) {
    super();
    const timeouts = { requestTimeoutMs: 800, probeTimeoutMs: 500 };
    this.network = new SimNetwork(this, new Random(seed), testLimits, timeouts, emptyStats(), { dropRate: 0, dupRate: 0, longDelayRate: 0 });
    const hostSettings = { view, limits: testLimits, settings: testSettings, causalWaitMs: 1000, durable: false, ...timeouts };
    this.hosts = view.map((address, index) => new SimHost(index, address, this, this.network, hostSettings, new Random(seed + 1)));
  }

  trace(): void {}

  receiverAt(address: Address): ReturnType<SimHost['receiver']> {
    const receiver = this.hosts.find((host) => host.address === address)?.receiver();
    if (receiver === undefined) return undefined;
    return {
      covers: receiver.covers,
      handle: (message, answer) => {
        const received = this.received.get(address) ?? [];
        received.push(message);
        this.received.set(address, received);
        receiver.handle(message, answer);
      },
    };
  }

  start(index: number, incarnation: string): ReplicaNode {
    return this.hosts[index]!.start(incarnation, () => {});
  }
}

test('three production nodes over the simulated network converge on every write, each answered once another replica holds it', () => {
  const world = new TinyWorld([A, B, C]);
  const nodes = [0, 1, 2].map((index) => world.start(index, `n${index}`));
  world.runUntil(500);
  assert.ok(nodes.every((node) => node.core.joined));
  const answered: string[] = [];
  nodes.forEach((node, index) =>
    node.write(`k${index}`, index, emptyClock, (result) => {
      assert.ok(result.ok && result.value !== undefined);
      assert.ok(node.core.isReplicated(result.value.event), 'acknowledged only once another replica holds it');
      answered.push(node.core.self);
    }),
  );
  assert.equal(answered, [], 'no write is answered before it left its replica');
  world.runUntil(2000);
  assert.equal(answered.sort(), [A, B, C]);
  for (const node of nodes) assert.ok(sameClock(node.core.clock, nodes[0]!.core.clock));
  assert.equal(readableContents(nodes[1]!.core.viewSnapshot()), { k0: 0, k1: 1, k2: 2 });
  assert.equal(viewAsObject(nodes[2]!.core.viewSnapshot()), viewAsObject(nodes[0]!.core.viewSnapshot()));
});

test('a node restarted under a new incarnation joins by a snapshot pulled in chunks, and the others take its writes at once', () => {
  const world = new TinyWorld([A, B, C]);
  const [a, b] = [world.start(0, 'a1'), world.start(1, 'b1'), world.start(2, 'c1')];
  world.runUntil(500);
  for (let i = 0; i < 7; i++) a.write(`k${i}`, i, a.core.clock, () => {});
  world.runUntil(1000);
  world.hosts[2]!.crash();
  world.runUntil(2000);
  assert.is(linkTo(a.core, C, 2000).link.state, 'held-down', 'A saw C go away');
  world.received.clear();
  const c = world.start(2, 'c2');
  world.runUntil(2500);
  assert.equal(c.core.joinState, { kind: 'joined', how: 'snapshot' });
  assert.is(world.received.get(A)?.filter((message) => message.rpc === 'snapshot-pull').length, 3, 'seven keys in chunks of three, from the first peer');
  assert.equal(readableContents(c.core.viewSnapshot()), readableContents(a.core.viewSnapshot()));
  assert.is(linkTo(a.core, C, world.now).incarnation, 'c2');
  let acknowledged = false;
  c.write('late', 'c2', c.core.clock, (result) => (acknowledged = result.ok));
  world.runUntil(3000);
  assert.ok(acknowledged, 'well within the hold-down the old life caused');
  assert.is(valueOf(a.core.read('late', emptyClock).found), 'c2');
  assert.is(valueOf(b.core.read('late', emptyClock).found), 'c2');
});

test.run();
