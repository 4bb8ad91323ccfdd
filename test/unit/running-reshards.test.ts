// The reshards a node coordinates, by id: registered while they run (bounded), and the coordinator
// a frozen node asks, read from the id.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ExpectedError } from '../../events/expected-error.ts';
import type { Address } from '../../events/ids.ts';
import { coordinatorOf, newReshardId, RunningReshards } from '../../src/shard/running-reshards.ts';

const self = '127.0.0.1:8090' as Address;

test('coordinatorOf() reads the address an id starts with, and nothing from an id made by hand', () => {
  assert.is(coordinatorOf(newReshardId(self)), self);
  assert.is(coordinatorOf('[::1]:8090/abc'), '[::1]:8090');
  assert.is(coordinatorOf('R1'), undefined);
  assert.is(coordinatorOf('not an address/abc'), undefined);
  assert.is(coordinatorOf('127.0.0.1:99999/abc'), undefined);
});

test('a reshard is running from add() to delete(); past the bound, add() refuses (503) and the others stay', () => {
  const running = new RunningReshards();
  const first = newReshardId(self);
  assert.not.ok(running.has(first));
  running.add(first);
  assert.ok(running.has(first));
  running.delete(first);
  assert.not.ok(running.has(first));

  const ids: string[] = [];
  let refused: unknown;
  for (let i = 0; i < 100 && refused === undefined; i++) {
    const id = newReshardId(self);
    try {
      running.add(id);
      ids.push(id);
    } catch (error) {
      refused = error;
    }
  }
  assert.instance(refused, ExpectedError);
  assert.is((refused as ExpectedError).status, 503);
  assert.ok(ids.length > 1 && ids.every((id) => running.has(id)), `${ids.length} registered before the refusal`);
});

test.run();
