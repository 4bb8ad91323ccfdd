import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Address } from '../../events/ids.ts';
import { eventId, type KvEvent } from '../../events/kv-event.ts';
import { clockCovers, compareClocks, emptyClock, type VectorClock } from '../../events/vector-clock.ts';
import type { Action } from '../../src/core/actions.ts';
import { viewEntries } from '../../src/core/kv-view.ts';
import { Replica } from '../../src/core/replica.ts';
import { ViewFullError } from '../../src/core/view-full-error.ts';
import { snapshotChunkEntries } from '../../src/core/snapshot-source.ts';
import { addresses, testLimits, testSettings, viewAsObject } from './support.ts';

const [A, B, C] = [addresses[0]!, addresses[1]!, addresses[2]!];
const holdDownMs = testSettings.linkHoldDownMs;

function replica(self: Address, incarnation = 'a', view: readonly Address[] = [A, B, C], now = 0, settings = testSettings): Replica {
  return new Replica({ self, incarnation, initialView: view, limits: testLimits, settings, now });
}

function pushTo(from: Replica, to: Replica, events: readonly KvEvent[], now: number) {
  return to.receivePush({ from: from.self, incarnation: from.incarnation, events, clock: from.clock }, now);
}

const ofType = <T extends Action['type']>(actions: readonly Action[], type: T) =>
  actions.filter((action): action is Extract<Action, { type: T }> => action.type === type);

/**
 * A perfect shell: performs every action at once against the addressed replica and reports the
 * outcome, until nothing more is sent. `down` addresses do not answer at all; `isolated` ones go
 * on working but cannot reach, nor be reached by, the others.
 */
function settle(
  replicas: readonly Replica[],
  now: number,
  down: ReadonlySet<Address> = new Set(),
  isolated: ReadonlySet<Address> = new Set(),
): Action[] {
  const byAddress = new Map(replicas.map((r) => [r.self, r]));
  const all: Action[] = [];
  for (let round = 0; round < 100; round++) {
    let sent = 0;
    for (const r of replicas) {
      if (down.has(r.self)) continue;
      for (const action of r.poll(now)) {
        sent++;
        all.push(action);
        const cut = isolated.has(r.self) !== isolated.has(action.to);
        const peer = down.has(action.to) || cut ? undefined : byAddress.get(action.to);
        switch (action.type) {
          case 'push':
            r.onPushResult(action.to, action.sentAt, peer ? { ok: true, reply: pushTo(r, peer, action.events, now) } : { ok: false, reason: 'timeout' }, now);
            break;
          case 'push-snapshot': {
            if (!peer) {
              r.onPushResult(action.to, action.sentAt, { ok: false, reason: 'timeout' }, now);
              break;
            }
            let reply;
            for (let index = 0; ; index++) {
              const { entries, last } = snapshotChunkEntries(action.snapshot, index, testLimits.snapshotChunkKeysMax);
              const { snapshotId, clock, view } = action.snapshot;
              reply = peer.receiveSnapshotChunk({ from: r.self, incarnation: r.incarnation, snapshotId, index, last, clock, view, entries }, now);
              if (last || reply.type !== 'accepted') break;
            }
            r.onPushResult(action.to, action.sentAt, { ok: true, reply }, now);
            break;
          }
          case 'probe':
            r.onProbeResult(action.to, action.sentAt, peer ? { ok: true, reply: peer.healthReply() } : { ok: false, reason: 'timeout' }, now);
            break;
          case 'announce':
            peer?.addToView(r.self, { from: r.self, incarnation: r.incarnation, clock: action.clock }, now);
            break;
          case 'broadcast-delete':
            peer?.removeFromView(action.address, { from: r.self, incarnation: r.incarnation });
            break;
        }
      }
    }
    if (sent === 0) return all;
  }
  throw new Error('settle() did not quiesce');
}

/** Probes one peer until it has answered `n` times with `ok`. */
function probe(r: Replica, to: Replica | Address, ok: boolean, now: number): void {
  const address = typeof to === 'string' ? to : to.self;
  r.onProbeResult(address, now, ok && typeof to !== 'string' ? { ok: true, reply: to.healthReply() } : { ok: false, reason: 'timeout' }, now);
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

// ------------------------------------------------------------------ causal delivery

test('receivePush() holds events until their causal past arrives', () => {
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

test('receivePush() ignores duplicates, in one batch and across batches', () => {
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

test('receivePush() answers with the delivered clock, which tells the sender what to send next', () => {
  const a = replica(A);
  const b = replica(B);
  a.write('k', 1, emptyClock);
  a.write('k', 2, a.clock);
  const [push] = ofType(a.poll(0), 'push').filter((action) => action.to === B);
  assert.ok(push);
  assert.is(push.events.length, 2);
  const reply = pushTo(a, b, push.events, 0);
  a.onPushResult(B, push.sentAt, { ok: true, reply }, 0);
  assert.equal(ofType(a.poll(1), 'push').filter((action) => action.to === B), [], 'nothing left to send to B');
});

test('a lost push is sent again after the anti-entropy interval', () => {
  const a = replica(A);
  a.write('k', 1, emptyClock);
  const [push] = ofType(a.poll(0), 'push').filter((action) => action.to === B);
  assert.ok(push);
  a.onPushResult(B, push.sentAt, { ok: false, reason: 'timeout' }, 10);
  assert.equal(ofType(a.poll(11), 'push').filter((action) => action.to === B), []);
  const again = ofType(a.poll(10 + testSettings.antiEntropyIntervalMs), 'push').filter((action) => action.to === B);
  assert.is(again.length, 1);
  assert.equal(again[0]!.events, push.events);
});

test('settle() of three replicas converges on every write', () => {
  const rs = [replica(A), replica(B), replica(C)];
  rs[0]!.write('k', 'from a', emptyClock);
  rs[1]!.write('k', 'from b', emptyClock);
  rs[2]!.write('j', 'from c', emptyClock);
  settle(rs, 0);
  for (const r of rs) assert.ok(sameClock(r.clock, rs[0]!.clock));
  assert.equal(viewAsObject(rs[1]!.viewSnapshot()), viewAsObject(rs[0]!.viewSnapshot()));
  assert.equal(viewAsObject(rs[2]!.viewSnapshot()), viewAsObject(rs[0]!.viewSnapshot()));
});

// ------------------------------------------------------------------ link hold-down

/** A has seen B up, then a failure: A holds the link to B down from `at`. */
function holdDown(a: Replica, b: Replica, at: number): void {
  probe(a, b, true, at - 1);
  probe(a, b.self, false, at);
}

test('receivePush() is refused with held-down and applies nothing while the link is held down', () => {
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
  const chunk = a.receiveSnapshotChunk(
    { from: B, incarnation: 'a', snapshotId: 'a-1', index: 0, last: true, clock: event.clock, view: [A, B], entries: [event] },
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
  const actions = a.poll(2000);
  assert.equal(ofType(actions, 'push'), []);
  assert.is(ofType(actions, 'probe').length, 1, 'the suspect peer is probed');
  assert.is(ofType(a.poll(1000 + holdDownMs), 'push').length, 1);
});

test('a held-down answer makes the sender wait exactly the remaining time', () => {
  const a = replica(A, 'a', [A, B]);
  const b = replica(B, 'a', [A, B]);
  holdDown(a, b, 1000);
  b.write('k', 1, emptyClock);
  const [push] = ofType(b.poll(2000), 'push');
  assert.ok(push);
  const reply = pushTo(b, a, push.events, 2000);
  b.onPushResult(A, push.sentAt, { ok: true, reply }, 2000);
  const during = ofType(b.poll(5999), 'push');
  assert.ok(during.every((p) => p.custody === true), 'while held down, only custody pushes (for durability) go out');
  assert.is(b.describe(2000).peers.find((peer) => peer.address === A)?.link.heldDownRemainingMs, 4000);
  const after = ofType(b.poll(6000), 'push');
  assert.is(after.length + during.length, 1);
});

test('an own push carries the part of its causal past the peer lacks, so the peer can deliver it at once', () => {
  const a = replica(A);
  const b = replica(B);
  const c = replica(C);
  for (const [x, y] of [[a, b], [b, a], [a, c], [c, a]] as const) probe(x, y, true, 0);
  const fromC = c.write('x', 1, emptyClock).event;
  pushTo(c, a, [fromC], 1);
  const own = a.write('y', 2, a.clock).event;
  const toB = ofType(a.poll(2), 'push').find((p) => p.to === B)!;
  assert.equal(toB.events.map(eventId), [eventId(fromC), eventId(own)]);
  const reply = pushTo(a, b, toB.events, 2);
  assert.ok(clockCovers(reply.clock, own.clock), 'B delivered both');
});

test('a held-down peer keeps our unreplicated writes in custody, unapplied, and applies them when the hold-down ends', () => {
  const a = replica(A, 'a', [A, B]);
  const b = replica(B, 'a', [A, B]);
  for (const [x, y] of [[a, b], [b, a]] as const) probe(x, y, true, 0);
  holdDown(a, b, 1000);
  const write = b.write('k', 1, emptyClock).event;
  const first = ofType(b.poll(2000), 'push')[0]!;
  b.onPushResult(A, first.sentAt, { ok: true, reply: a.receivePush({ from: B, incarnation: 'a', events: first.events, clock: b.clock }, 2000) }, 2000);
  assert.not.ok(b.isReplicated(write), 'a plain push on a held-down link is refused and not kept');
  const custody = ofType(b.poll(2001), 'push')[0]!;
  assert.ok(custody.custody, 'the write no replica holds is offered for custody');
  const reply = a.receivePush({ from: B, incarnation: 'a', events: custody.events, clock: b.clock, custody: true }, 2001);
  assert.is(reply.type, 'held-down');
  assert.is(a.read('k', emptyClock).found, undefined, 'custody is not applied during the hold-down');
  b.onPushResult(A, custody.sentAt, { ok: true, reply }, 2001);
  assert.ok(b.isReplicated(write), 'a write in custody counts as held by another replica');
  assert.equal(ofType(b.poll(2002), 'push'), [], 'nothing more to offer');
  a.poll(5999);
  assert.is(a.read('k', emptyClock).found, undefined);
  a.poll(6000);
  assert.is(valueOf(a.read('k', emptyClock).found), 1, 'applied once the hold-down has ended');
});

test('custody is applied at once when its owner is declared failed (the crash it was kept for)', () => {
  const a = replica(A, 'a', [A, B]);
  const b = replica(B, 'a', [A, B]);
  for (const [x, y] of [[a, b], [b, a]] as const) probe(x, y, true, 0);
  holdDown(a, b, 1000);
  b.write('k', 1, emptyClock);
  a.receivePush({ from: B, incarnation: 'a', events: [...b.logEvents()], clock: b.clock, custody: true }, 1001);
  assert.is(a.read('k', emptyClock).found, undefined);
  for (let i = 2; i <= testSettings.probeMissesMax + 1; i++) probe(a, B, false, 1000 + i);
  a.poll(1010);
  assert.not.ok(a.inView(B));
  assert.is(valueOf(a.read('k', emptyClock).found), 1, 'the crashed writer\'s acknowledged write survives');
});

function linkTo(r: Replica, address: Address, now: number) {
  return r.describe(now).peers.find((peer) => peer.address === address)!;
}

test('a peer announcing a new incarnation via addToView() clears the hold-down', () => {
  const a = replica(A);
  const b = replica(B);
  b.write('k', 1, emptyClock);
  settle([a, b], 0);
  holdDown(a, b, 1000);
  assert.is(linkTo(a, B, 1500).link.state, 'held-down');
  const restarted = replica(B, 'b2');
  a.addToView(B, { from: B, incarnation: 'b2', clock: restarted.clock }, 1600);
  const peer = linkTo(a, B, 1600);
  assert.is(peer.link.state, 'up');
  assert.is(peer.incarnation, 'b2');
  assert.equal(peer.knownDelivered, {}, 'what it knew of the old life is replaced by the announced clock');
  const event = restarted.write('k', 1, emptyClock).event;
  assert.is(pushTo(restarted, a, [event], 1700).type, 'accepted');
  assert.ok(a.covers(event.clock));
  // Failures of requests sent before the announcement say nothing of the new life.
  a.onProbeResult(B, 1590, { ok: false, reason: 'timeout' }, 1800);
  assert.is(linkTo(a, B, 1800).link.state, 'up');
  assert.is(pushTo(restarted, a, [], 1900).type, 'accepted');
  // Failures of requests sent after it do count.
  a.onProbeResult(B, 1700, { ok: false, reason: 'timeout' }, 2000);
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
  a.addToView(B, { from: B, incarnation: 'b2', clock: emptyClock }, 1600);
  assert.is(linkTo(a, B, 1600).link.state, 'up');
});

test('a peer announcing its new incarnation is not held down even if a probe met the new life first', () => {
  const a = replica(A);
  const b = replica(B);
  holdDown(a, b, 1000);
  const restarted = replica(B, 'b2');
  probe(a, restarted, true, 1500); // the restarted process is listening before it announces itself
  a.addToView(B, { from: B, incarnation: 'b2', clock: restarted.clock }, 1600);
  assert.is(pushTo(restarted, a, [], 1700).type, 'accepted');
});

test('announcing the same incarnation again does not lift a hold-down', () => {
  const a = replica(A);
  const b = replica(B);
  a.addToView(B, { from: B, incarnation: 'a', clock: emptyClock }, 0);
  holdDown(a, b, 1000);
  a.addToView(B, { from: B, incarnation: 'a', clock: emptyClock }, 1100);
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
});

test('addToView() refuses to grow the view past viewMembersMax', () => {
  const a = new Replica({ self: A, incarnation: 'a', initialView: [A], limits: { ...testLimits, viewMembersMax: 2 }, settings: testSettings, now: 0 });
  assert.is(a.addToView(B, undefined, 0), 'added');
  assert.throws(() => a.addToView(C, undefined, 0), (error: unknown) => error instanceof ViewFullError);
  assert.equal(a.view(), [A, B]);
});

test('a peer missing probeMissesMax probes leaves the view and the others are told', () => {
  const a = replica(A);
  const b = replica(B);
  const c = replica(C);
  for (let i = 0; i < testSettings.probeMissesMax - 1; i++) probe(a, c.self, false, 100 * (i + 1));
  assert.ok(a.inView(C), 'still in the view after fewer misses');
  assert.equal(ofType(a.poll(250), 'broadcast-delete'), []);
  probe(a, c.self, false, 1000);
  assert.not.ok(a.inView(C));
  const deletes = ofType(a.poll(1000), 'broadcast-delete');
  assert.equal(
    deletes.map((action) => [action.to, action.address]),
    [[B, C]],
  );
  b.removeFromView(C, { from: A, incarnation: a.incarnation });
  assert.not.ok(b.inView(C));
  // Both keep probing C; it comes back when it answers.
  assert.ok(ofType(a.poll(5000), 'probe').some((action) => action.to === C));
  probe(a, c, true, 5000);
  assert.ok(a.inView(C));
  assert.equal(a.view(), [A, B, C]);
});

test('a probe that failed but was sent before the last success is not a miss', () => {
  const a = replica(A);
  const c = replica(C);
  probe(a, c, true, 500);
  for (let i = 0; i < testSettings.probeMissesMax + 1; i++) a.onProbeResult(C, 400, { ok: false, reason: 'late timeout' }, 600 + i);
  assert.ok(a.inView(C));
});

test('a probe answered by another address counts as a failure', () => {
  const a = replica(A);
  const b = replica(B);
  for (let i = 0; i < testSettings.probeMissesMax; i++) a.onProbeResult(C, i, { ok: true, reply: b.healthReply() }, i);
  assert.not.ok(a.inView(C));
});

test('a peer a client removed is forgotten: not probed, not re-added by a probe', () => {
  const a = replica(A);
  const c = replica(C);
  a.removeFromView(C, undefined);
  assert.not.ok(ofType(a.poll(0), 'probe').some((action) => action.to === C));
  probe(a, c, true, 10);
  assert.not.ok(a.inView(C));
});

test('announce() tells every known replica about this one, with its clock', () => {
  const a = replica(A);
  a.write('k', 1, emptyClock);
  a.announce();
  const announces = ofType(a.poll(0), 'announce');
  assert.equal(
    announces.map((action) => action.to),
    [B, C],
  );
  assert.ok(sameClock(announces[0]!.clock, a.clock));
});

test('learnView() adds the members a snapshot sender had', () => {
  const a = replica(A, 'a', [A]);
  a.learnView([A, B, C], 0);
  assert.equal(a.view(), [A, B, C]);
});

// ------------------------------------------------------------------ stability, compaction, snapshots

test('compact() drops events every replica in the view has delivered, and no others', () => {
  const rs = [replica(A), replica(B), replica(C)];
  const [a, b, c] = rs as [Replica, Replica, Replica];
  a.write('k', 1, emptyClock);
  a.write('j', 1, a.clock);
  settle(rs, 0);
  assert.is(a.compact(), 2);
  assert.is(a.logLength, 0);
  assert.is(a.liveKeys, 2, 'the view keeps the values');
  assert.ok(sameClock(a.describe(0).stableFrontier, a.clock));
  // Now C is cut off; new events are not stable.
  a.write('k', 2, a.clock);
  settle([a, b], 10, new Set([C]));
  assert.is(a.compact(), 0);
  assert.is(a.logLength, 1);
  assert.is(c.logLength, 2);
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
  for (const r of rs) r.compact();
  settle(rs, 2);
  for (const r of rs) r.compact();
  // C's write reaches A relayed by B (only its origin pushes at once; others relay after an interval).
  settle(rs, 3 + testSettings.antiEntropyIntervalMs);
  for (const r of rs) r.compact();
  for (const r of rs) {
    assert.ok(sameClock(r.clock, a.clock));
    assert.is(r.read('k', emptyClock).found, undefined, `${r.self} shows the delete, which wins`);
    assert.ok(clockCovers(r.clock, deleted.clock));
  }
  assert.equal(viewAsObject(a.viewSnapshot()), viewAsObject(b.viewSnapshot()));
  assert.equal(viewAsObject(c.viewSnapshot()), viewAsObject(b.viewSnapshot()));
  // Once every replica is known to have everything, the tombstone goes everywhere.
  for (const now of [2000, 4000, 6000]) {
    settle(rs, now);
    for (const r of rs) r.compact();
  }
  for (const r of rs) assert.is(r.describe(6000).tombstones, 0, `${r.self} forgot the tombstone`);
  assert.equal(viewAsObject(a.viewSnapshot()), viewAsObject(c.viewSnapshot()));
});

test('a replica cut off from all others keeps its tombstones: a losing concurrent write must not win when it comes back', () => {
  const rs = [replica(A), replica(B), replica(C)];
  const [a, b, c] = rs as [Replica, Replica, Replica];
  a.write('p', 'first', emptyClock);
  settle(rs, 0);
  c.write('c1', 1, c.clock);
  c.write('c2', 2, c.clock);
  settle(rs, 1);
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
    settle(rs, now, new Set(), isolated);
    for (const r of rs) r.compact();
  }
  assert.not.ok(c.inView(A) || c.inView(B), 'C is alone in its view');
  assert.not.ok(a.inView(C));
  // The link heals; everyone exchanges what the others lack.
  for (let i = 0; i < 4; i++) {
    now += testSettings.linkHoldDownMs;
    settle(rs, now);
    for (const r of rs) r.compact();
  }
  for (const r of rs) {
    assert.ok(sameClock(r.clock, a.clock), `${r.self} has every event`);
    assert.is(r.read('p', emptyClock).found, undefined, `${r.self}: the delete wins over the concurrent put`);
  }
  assert.equal(viewAsObject(b.viewSnapshot()), viewAsObject(a.viewSnapshot()));
  assert.equal(viewAsObject(c.viewSnapshot()), viewAsObject(a.viewSnapshot()));
});

test('a peer whose known clock is behind the log floor is sent a snapshot, and installing it converges', () => {
  const settings = { ...testSettings };
  const rs = [replica(A, 'a', [A, B, C], 0, settings), replica(B, 'a', [A, B, C], 0, settings), replica(C, 'a', [A, B, C], 0, settings)];
  const [a, b, c] = rs as [Replica, Replica, Replica];
  a.write('old', 1, emptyClock);
  a.write('gone', 1, a.clock);
  settle(rs, 0);
  // C is cut off long enough to leave the views of A and B.
  let now = 0;
  for (let i = 0; i < testSettings.probeMissesMax; i++) {
    now += 300;
    settle([a, b], now, new Set([C]));
    for (const r of [a, b]) probe(r, C, false, now);
  }
  assert.not.ok(a.inView(C));
  assert.not.ok(b.inView(C));
  for (let i = 0; i < 12; i++) a.write(`k${i % 5}`, i, a.clock);
  a.write('gone', undefined, a.clock);
  b.write('old', 'b', emptyClock);
  settle([a, b], now + 1);
  assert.ok(a.compact() > 0);
  b.compact();
  assert.ok(c.read('gone', emptyClock).found, 'C still has the old value');
  // The link heals: C answers again and is taken back, past the hold-down.
  now += holdDownMs + 1000;
  const actions = settle(rs, now);
  const snapshots = ofType(actions, 'push-snapshot');
  assert.ok(snapshots.length > 0, 'C is sent a snapshot');
  assert.ok(snapshots.every((action) => action.to === C));
  for (const r of rs) assert.ok(sameClock(r.clock, a.clock), `${r.self} has every event`);
  assert.equal(viewAsObject(c.viewSnapshot()), viewAsObject(a.viewSnapshot()));
  assert.equal(viewAsObject(b.viewSnapshot()), viewAsObject(a.viewSnapshot()));
  assert.is(c.read('gone', emptyClock).found, undefined, 'the delete reached C through the snapshot');
  assert.is(valueOf(c.read('old', emptyClock).found), 'b');
  // And after the snapshot, ordinary suffixes flow again.
  const later = c.write('after', 1, c.clock).event;
  settle(rs, now + 1);
  assert.ok(a.covers(later.clock) && b.covers(later.clock));
  assert.equal(ofType(settle(rs, now + 2), 'push-snapshot'), []);
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
  const pushes = b.poll(1 + testSettings.antiEntropyIntervalMs).filter((action) => action.to === C && (action.type === 'push' || action.type === 'push-snapshot'));
  assert.is(pushes[0]?.type, 'push-snapshot');
});

test('receiveSnapshotChunk() stages chunks in order and installs on the last one', () => {
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
    return b.receiveSnapshotChunk(
      { from: A, incarnation: 'a', snapshotId, index, last: chunk.last, clock: source.clock, view: source.view, entries: chunk.entries },
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

test('a restarted replica joins by snapshot and announcement, and the others send it only what it lacks', () => {
  const rs = [replica(A), replica(B), replica(C)];
  const [a, b] = rs as [Replica, Replica, Replica];
  a.write('k', 1, emptyClock);
  settle(rs, 0);
  // C restarts: a new life at the same address.
  const c2 = replica(C, 'c2', [A, B, C], 100);
  const snapshot = b.snapshot();
  c2.installSnapshot(snapshot.entries, snapshot.clock);
  c2.learnView(snapshot.view, 100);
  c2.announce();
  const live = [a, b, c2];
  settle(live, 100);
  assert.ok(a.inView(C));
  assert.is(a.describe(100).peers.find((peer) => peer.address === C)?.incarnation, 'c2');
  const written = c2.write('j', 2, c2.clock).event;
  settle(live, 101);
  for (const r of live) assert.ok(r.covers(written.clock));
  assert.equal(viewAsObject(c2.viewSnapshot()), viewAsObject(a.viewSnapshot()));
});

test('isReplicated() and hasPeerInView() follow what the peers said', () => {
  const a = replica(A, 'a', [A, B]);
  const b = replica(B, 'a', [A, B]);
  const event = a.write('k', 1, emptyClock).event;
  assert.not.ok(a.isReplicated(event));
  assert.ok(a.hasPeerInView());
  settle([a, b], 0);
  assert.ok(a.isReplicated(event));
  holdDown(a, b, 10);
  assert.ok(a.hasPeerInView(), 'a held-down peer still in the view may take the write in custody');
  for (let i = 1; i <= testSettings.probeMissesMax; i++) probe(a, B, false, 10 + i);
  assert.not.ok(a.hasPeerInView(), 'alone once failure detection removed the peer');
});

test('nextWakeAt() is when a probe or a retry is due', () => {
  const a = replica(A, 'a', [A, B]);
  a.poll(0);
  assert.is(a.nextWakeAt(0), testSettings.probeIntervalMs);
  a.onProbeResult(B, 0, { ok: false, reason: 'x' }, 10);
  assert.is(a.nextWakeAt(10), 10 + testSettings.suspectProbeIntervalMs);
  assert.is(a.nextWakeAt(100_000), 100_000, 'never in the past');
});

test('poll() pushes its own events at once, and relays other origins\' events only after an anti-entropy interval', () => {
  const a = replica(A);
  const b = replica(B);
  for (const [x, y] of [[a, b], [b, a]] as const) probe(x, y, true, 0);
  const write = a.write('k', 1, emptyClock).event;
  const fromA = ofType(a.poll(1), 'push');
  assert.equal(fromA.map((p) => p.to).sort(), [B, C]);
  assert.ok(sameClock(fromA[0]!.clock, a.clock), 'a push carries the sender\'s clock');
  pushTo(a, b, [write], 1);
  assert.equal(ofType(b.poll(2), 'push'), [], 'B knows A has it (the push said so), and waits before relaying to C');
  const relay = ofType(b.poll(2 + testSettings.antiEntropyIntervalMs), 'push');
  assert.equal(relay.map((p) => p.to), [C], 'C still lacks it an interval later: B relays it');
});

test.run();
