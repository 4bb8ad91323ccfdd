// ShardedNode under a reshard's freeze asks the reshard's coordinator, about once a second, whether
// it still runs it: a freeze that reached the node after the reshard gave up (a cut link healed
// and the kernel sent it again; the thaw sent meanwhile was lost) ends at the coordinator's "no",
// not 30 s later. No answer, or "yes", leaves it on; an answer that comes after the freeze ended
// (or another took its place) changes nothing. Virtual time, answers given when the test says.
import pino from 'pino';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ExpectedError } from '../../events/expected-error.ts';
import type { Address } from '../../events/ids.ts';
import { initialShardMap, nextEpoch } from '../../events/shard-map.ts';
import { ReplicaNode } from '../../src/node/replica-node.ts';
import { freezeCheckEveryMs, ShardedNode } from '../../src/shard/sharded-node.ts';
import { MemoryStorage } from '../../src/storage/memory-storage.ts';
import { VirtualTime } from './virtual-time.ts';
import { addresses, testLimits, testSettings } from './support.ts';

const self = addresses[1]!;
const coordinator = addresses[0]!;
const view = addresses.slice(0, 4) as Address[];
const R1 = `${coordinator}/r1`;
const R2 = `${coordinator}/r2`;

/** One question to a coordinator, answered when the test says. */
interface Question {
  readonly reshard: string;
  readonly answer: (running: boolean | undefined) => Promise<void>;
}

function world() {
  const time = new VirtualTime();
  const { timers, clock } = time;
  const questions: Question[] = [];
  const warnings: { event?: string; reshard?: string }[] = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(JSON.parse(line)) });
  const map = initialShardMap(view, 2);
  const sharded = new ShardedNode({
    self,
    map,
    view,
    limits: testLimits,
    timers,
    clock,
    log,
    askReshardRunning: (reshard) =>
      new Promise((resolve) => {
        questions.push({
          reshard,
          // The answer's continuation runs in a later microtask: wait for it, as the network would.
          answer: async (running) => {
            resolve(running);
            await new Promise((settled) => setImmediate(settled));
          },
        });
      }),
    makeNode: (group, groupView) =>
      new ReplicaNode({
        config: { socketAddress: self, view: groupView, causalWaitMs: 1000, limits: testLimits, settings: testSettings },
        incarnation: group === undefined ? 'b1' : `b1-${group}`,
        boot: 'b1',
        clock,
        timers,
        transport: { send: () => {}, close: () => {} },
        storage: new MemoryStorage(),
        log,
      }),
  });
  return { sharded, next: nextEpoch(map), questions, warnings, runUntil: (until: number) => time.runUntil(until), now: () => time.now };
}

/** Whether a freeze for another reshard is refused (409) here: it is while this node is frozen. */
function refusesAnotherFreeze(w: ReturnType<typeof world>, reshard: string): boolean {
  try {
    w.sharded.freeze(w.next, reshard);
    return false;
  } catch (error) {
    if (error instanceof ExpectedError && error.status === 409) return true;
    throw error;
  }
}

test('a frozen node asks the coordinator about a second later; told the reshard no longer runs, it thaws and says so', async () => {
  const w = world();
  w.sharded.freeze(w.next, R1);
  w.runUntil(freezeCheckEveryMs - 1);
  assert.is(w.questions.length, 0, 'not asked before a second has passed');
  w.runUntil(freezeCheckEveryMs);
  assert.equal(w.questions.map((q) => q.reshard), [R1]);
  assert.ok(w.sharded.writesFrozen, 'still frozen while the question is out');

  await w.questions[0]!.answer(false);
  assert.not.ok(w.sharded.writesFrozen, 'writes go on');
  assert.equal(w.warnings.map(({ event, reshard }) => ({ event, reshard })), [{ event: 'reshard-freeze-orphaned', reshard: R1 }]);
  assert.not.ok(refusesAnotherFreeze(w, R2), 'another reshard may freeze it now');
  w.sharded.stop();
});

test('no answer (the coordinator is down or cut off) leaves the freeze on, asked again every second, until its 30 s end', async () => {
  const w = world();
  w.sharded.freeze(w.next, R1);
  for (let second = 1; second <= 5; second++) {
    w.runUntil(w.now() + freezeCheckEveryMs);
    assert.is(w.questions.length, second, `one question at second ${second}`);
    await w.questions[second - 1]!.answer(undefined);
    assert.ok(w.sharded.writesFrozen, `frozen after no answer ${second}`);
  }
  assert.ok(refusesAnotherFreeze(w, R2));
  // Unanswered questions pile up no further: the next one waits for the answer to this one.
  w.runUntil(w.now() + freezeCheckEveryMs);
  const asked = w.questions.length;
  w.runUntil(w.now() + 5 * freezeCheckEveryMs);
  assert.is(w.questions.length, asked, 'one question out at a time');
  await w.questions[asked - 1]!.answer(undefined);
  w.runUntil(30_000);
  assert.not.ok(w.sharded.writesFrozen, 'the 30 s limit still ends it');
  assert.equal(w.warnings.map((warning) => warning.event), ['reshard-freeze-expired']);
  w.sharded.stop();
});

test('told the reshard still runs, the node stays frozen and asks again', async () => {
  const w = world();
  w.sharded.freeze(w.next, R1);
  w.runUntil(freezeCheckEveryMs);
  await w.questions[0]!.answer(true);
  assert.ok(w.sharded.writesFrozen);
  w.runUntil(2 * freezeCheckEveryMs);
  assert.is(w.questions.length, 2, 'asked again a second later');
  await w.questions[1]!.answer(true);
  assert.ok(w.sharded.writesFrozen);
  assert.ok(refusesAnotherFreeze(w, R2));
  assert.equal(w.warnings, []);
  w.sharded.stop();
});

test('an answer that comes after the commit, or after another reshard froze the node, changes nothing', async () => {
  const w = world();
  w.sharded.freeze(w.next, R1);
  w.runUntil(freezeCheckEveryMs);
  w.sharded.commit(w.next, R1);
  assert.not.ok(w.sharded.writesFrozen);
  await w.questions[0]!.answer(false);
  assert.equal(w.warnings, [], 'no orphaned freeze reported');
  w.runUntil(10 * freezeCheckEveryMs);
  assert.is(w.questions.length, 1, 'no question after the commit');

  // R1 thawed while its question was out; R2 froze meanwhile: R1's late "no" must not thaw R2.
  const v = world();
  v.sharded.freeze(v.next, R1);
  v.runUntil(freezeCheckEveryMs);
  v.sharded.thaw(R1);
  v.sharded.freeze(v.next, R2);
  v.runUntil(v.now() + freezeCheckEveryMs);
  assert.is(v.questions.length, 1, "R2 waits for R1's question to be answered");
  await v.questions[0]!.answer(false);
  assert.ok(v.sharded.writesFrozen, 'R2 still holds the freeze');
  assert.ok(refusesAnotherFreeze(v, R1));
  v.runUntil(v.now() + freezeCheckEveryMs);
  assert.equal(v.questions.map((q) => q.reshard), [R1, R2], 'R2 is asked about in its turn');
  await v.questions[1]!.answer(true);
  assert.ok(v.sharded.writesFrozen);
  v.sharded.stop();
});

test('a stopped node asks no more', async () => {
  const w = world();
  w.sharded.freeze(w.next, R1);
  w.runUntil(freezeCheckEveryMs);
  w.sharded.stop();
  await w.questions[0]!.answer(true);
  w.runUntil(10 * freezeCheckEveryMs);
  assert.is(w.questions.length, 1);
});

test.run();
