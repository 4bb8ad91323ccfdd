// ReplicaNode.receive: a push is answered once storage holds what it delivered (its answer then
// says so), at most pushAnswerWaitMaxMs later, and never by a node that stopped meanwhile.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Address } from '../../events/ids.ts';
import type { KvEvent } from '../../events/kv-event.ts';
import type { PushReply, PushRequest } from '../../events/peer-messages.ts';
import { clockCovers, emptyClock } from '../../events/vector-clock.ts';
import { ownStoreWaitMs, Replica } from '../../src/core/replica.ts';
import { createLogger } from '../../src/node/logger.ts';
import { pushAnswerWaitMaxMs, ReplicaNode } from '../../src/node/replica-node.ts';
import type { Storage } from '../../src/node/storage.ts';
import { VirtualTime } from './virtual-time.ts';
import { addresses, testLimits, testSettings } from './support.ts';

const [A, B, C] = [addresses[0]!, addresses[1]!, addresses[2]!];

/** Node B over virtual time, its storage's flushes answered only when the test says (or at once, `immediate`). */
function world(immediate = false, view: readonly Address[] = [A, B, C], limits = testLimits) {
  const time = new VirtualTime();
  const flushes: ((error: Error | undefined) => void)[] = [];
  const appended: KvEvent[] = [];
  /** Storage calls in order: what a flush is asked after matters (it covers only what was handed over before). */
  const calls: string[] = [];
  let unavailable: string | undefined;
  const storage: Storage = {
    get unavailable() {
      return unavailable;
    },
    append: (events) => {
      calls.push('append');
      appended.push(...events);
    },
    flush: (done) => {
      calls.push('flush');
      if (immediate) done(undefined);
      else flushes.push(done);
    },
    wantsSnapshot: () => false,
    snapshot: () => void calls.push('snapshot'),
    close: () => {},
  };
  const node = new ReplicaNode({
    config: { socketAddress: B, view, causalWaitMs: 1000, limits, settings: testSettings },
    incarnation: 'b1',
    boot: 'b1',
    clock: time.clock,
    timers: time.timers,
    // Peers never answer: only the pushes B receives matter here.
    transport: { send: () => {}, close: () => {} },
    storage,
    log: createLogger('silent', B),
  });
  /** Ends every flush asked for so far, as an fdatasync would (those it asks for meanwhile wait). */
  const sync = (): void => {
    for (const done of flushes.splice(0)) done(undefined);
  };
  return { node, runUntil: (until: number) => time.runUntil(until), sync, flushes, appended, calls, setUnavailable: (reason: string | undefined) => (unavailable = reason) };
}

/** Replica A's core, writing the events pushed to B (each test a new life of it, so B lacks nothing before them). */
let a = writer();
function writer(): Replica {
  const r = new Replica({ self: A, incarnation: 'a1', boot: 'a1', initialView: [A, B, C], limits: testLimits, settings: testSettings, now: 0 });
  r.onDelivered = (events) => r.ownStoredUpTo(events.at(-1)!.seq);
  return r;
}
test.before.each(() => {
  a = writer();
});

function pushOf(events: readonly KvEvent[]): PushRequest {
  return { from: A, incarnation: 'a1', events, clock: a.clock };
}

const storedHolds = (reply: PushReply, event: KvEvent): boolean => reply.type === 'accepted' && clockCovers(reply.stored ?? reply.clock, event.clock);

test('a push is answered once storage holds what it delivered, and the answer says storage holds it', () => {
  const w = world();
  const event = a.write('k1', 1, emptyClock).event;
  const answers: PushReply[] = [];
  w.node.receive(pushOf([event]), (reply) => answers.push(reply));
  assert.equal(w.appended, [event], 'delivered and handed to storage at once');
  assert.equal(answers, [], 'not answered before storage holds it');
  w.runUntil(10);
  assert.equal(answers, []);
  w.sync();
  assert.is(answers.length, 1);
  assert.ok(storedHolds(answers[0]!, event), JSON.stringify(answers[0]));
  assert.is(answers[0]!.type === 'accepted' && answers[0]!.stored, undefined, 'storage holds everything delivered');
});

test('pushes arriving during a flush wait for the next one; each is answered once, in arrival order', () => {
  const w = world();
  const first = a.write('k2', 2, emptyClock).event;
  const order: string[] = [];
  w.node.receive(pushOf([first]), () => order.push('first'));
  assert.is(w.flushes.length, 1);
  const second = a.write('k3', 3, emptyClock).event;
  w.node.receive(pushOf([second]), (reply) => {
    order.push('second');
    assert.ok(storedHolds(reply, second));
  });
  w.sync(); // the flush started before the second push: only the first is stored
  assert.equal(order, ['first']);
  assert.is(w.flushes.length, 1, 'a new flush for what came meanwhile');
  w.sync();
  assert.equal(order, ['first', 'second']);
  w.runUntil(1000);
  assert.equal(order, ['first', 'second'], 'never answered twice');
});

test('a disk that does not sync delays a push answer by at most pushAnswerWaitMaxMs; that answer says what storage holds', () => {
  const w = world();
  const event = a.write('k4', 4, emptyClock).event;
  const answers: { at: number; reply: PushReply }[] = [];
  let at = 0;
  w.node.receive(pushOf([event]), (reply) => answers.push({ at, reply }));
  for (at = 0; at <= pushAnswerWaitMaxMs + 50 && answers.length === 0; at++) w.runUntil(at);
  assert.is(answers.length, 1);
  assert.is(answers[0]!.at, pushAnswerWaitMaxMs);
  assert.ok(!storedHolds(answers[0]!.reply, event), 'not claimed stored');
  assert.ok(answers[0]!.reply.type === 'accepted' && clockCovers(answers[0]!.reply.clock, event.clock), 'but delivered');
});

test('no wait without anything to store, with storage unavailable, or with storage that holds everything at once', () => {
  const w = world();
  const event = a.write('k5', 5, emptyClock).event;
  w.node.receive(pushOf([event]), () => {});
  w.sync();
  let answered = 0;
  w.node.receive(pushOf([event]), () => answered++);
  assert.is(answered, 1, 'a push of what storage already holds');
  w.setUnavailable('disk full (ENOSPC)');
  const next = a.write('k6', 6, emptyClock).event;
  w.node.receive(pushOf([next]), () => answered++);
  assert.equal(w.appended.at(-1), next, 'delivered');
  assert.is(answered, 2, 'an unavailable disk does not hold up the sender');
  const memory = world(true);
  memory.node.receive(pushOf([event]), (reply) => {
    answered++;
    assert.ok(storedHolds(reply, event));
  });
  assert.is(answered, 3, 'no DATA_DIR');
});

test('a node that stops does not answer the pushes still waiting (as a crash would not)', () => {
  const w = world();
  let answered = 0;
  w.node.receive(pushOf([a.write('k8', 8, emptyClock).event]), () => answered++);
  w.node.stop();
  w.sync();
  w.runUntil(1000);
  assert.is(answered, 0);
});

test('a snapshot installed from a peer goes to storage before any flush that would claim its events stored', () => {
  const w = world();
  const old = a.write('s1', 1, emptyClock).event;
  w.node.handle({ rpc: 'snapshot-push', request: { from: A, incarnation: 'a1', snapshotId: 'a1-1', index: 0, last: true, clock: old.clock, view: [A, B, C], entries: [old] } });
  // A push delivered in the same turn, before the node's next drive(): its flush must not run ahead of the snapshot.
  const later = a.write('s2', 2, a.clock).event;
  const answers: PushReply[] = [];
  w.node.receive(pushOf([later]), (reply) => answers.push(reply));
  for (let i = 0; i < 5; i++) {
    w.sync();
    w.runUntil(i);
  }
  const snapshotAt = w.calls.indexOf('snapshot');
  assert.ok(snapshotAt >= 0, `the snapshot was handed to storage: ${w.calls.join(', ')}`);
  assert.not.ok(w.calls.slice(0, snapshotAt).includes('flush'), `no flush before it: ${w.calls.join(', ')}`);
  assert.is(answers.length, 1);
  assert.ok(storedHolds(answers[0]!, later) && storedHolds(answers[0]!, old), 'stored once the flush after the snapshot ended');
});

// ------------------------------------------------------------------ client writes and storage

/** B alone in its view (joined at once): its own storage is all that stands between a write and its answer. */
function lone(limits = testLimits) {
  const w = world(false, [B], limits);
  w.node.start();
  w.runUntil(0);
  const answers: { ok: boolean; status?: number; message?: string }[] = [];
  const write = (key: string): void =>
    w.node.write(key, 1, emptyClock, (answer) =>
      answers.push(answer.ok ? { ok: true } : { ok: false, status: (answer.error as { status?: number }).status, message: answer.error.message }),
    );
  /** Ends flushes until none is asked for (a flush asked for while one runs covers the writes since). */
  const syncAll = (): void => {
    for (let i = 0; i < 10 && w.flushes.length > 0; i++) w.sync();
  };
  return { ...w, answers, write, syncAll };
}

test('a write is not acknowledged before storage holds it, even past WRITE_ACK_TIMEOUT_MS; it is once the flush ends', () => {
  const w = lone();
  w.write('k');
  w.runUntil(testSettings.writeAckTimeoutMs + 10);
  assert.equal(w.answers, [], 'the fdatasync has not returned: no answer yet');
  w.syncAll();
  w.runUntil(testSettings.writeAckTimeoutMs + 11);
  assert.equal(w.answers, [{ ok: true }]);
});

test('a write storage has not taken within ownStoreWaitMs is answered 503 storage unavailable, never ok', () => {
  const w = lone();
  w.write('k1');
  w.runUntil(100);
  w.write('k2');
  w.runUntil(ownStoreWaitMs - 1);
  assert.equal(w.answers, []);
  w.runUntil(ownStoreWaitMs + 100);
  assert.equal(w.answers.map((a) => [a.ok, a.status]), [[false, 503], [false, 503]]);
  assert.match(w.answers[0]!.message!, /^storage unavailable: the disk has not taken the write within 5000 ms/);
  // The disk comes back: the next write is acknowledged once stored, as usual.
  w.syncAll();
  w.write('k3');
  w.syncAll();
  w.runUntil(ownStoreWaitMs + 200);
  assert.is(w.answers.length, 3);
  assert.equal(w.answers.at(-1), { ok: true });
});

test('with CAUSAL_WAITERS_MAX writes waiting for storage, the next is refused 503 at once, not acknowledged', () => {
  const w = lone({ ...testLimits, causalWaitersMax: 2 });
  w.write('k1');
  w.write('k2');
  w.write('k3');
  assert.equal(w.answers.map((a) => [a.ok, a.status]), [[false, 503]]);
  assert.match(w.answers[0]!.message!, /^storage unavailable: 2 writes are waiting for the disk; try again/);
  w.syncAll();
  w.runUntil(1);
  assert.equal(w.answers.map((a) => a.ok), [false, true, true], 'the two parked ones are acknowledged once stored');
});

test.run();
