import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LinkState } from '../../src/core/link-state.ts';

const holdDownMs = 5000;

test('recordFailure() does not hold down a link that was never up', () => {
  const link = new LinkState(holdDownMs);
  link.recordFailure(100, 90, 'refused');
  assert.not.ok(link.isHeldDown(100));
  assert.is(link.heldDownRemainingMs(100), 0);
  assert.is(link.describe(100).state, 'failing');
  assert.is(link.describe(100).lastFailureReason, 'refused');
});

test('recordFailure() holds down a link that was up, for holdDownMs after the last failure', () => {
  const link = new LinkState(holdDownMs);
  link.recordSuccess(0);
  link.recordFailure(1000, 900, 'timeout');
  assert.ok(link.isHeldDown(1000));
  assert.is(link.heldDownRemainingMs(2000), 4000);
  link.recordFailure(3000, 2900, 'timeout');
  assert.is(link.heldDownRemainingMs(3000), holdDownMs, 're-armed by the later failure');
  assert.ok(link.isHeldDown(7999));
  assert.not.ok(link.isHeldDown(8000));
  assert.is(link.describe(8000).state, 'failing');
  link.recordSuccess(8100);
  assert.is(link.describe(8200).state, 'up');
});

test('a success does not lift a hold-down early', () => {
  const link = new LinkState(holdDownMs);
  link.recordSuccess(0);
  link.recordFailure(100, 50, 'x');
  link.recordSuccess(200);
  assert.ok(link.isHeldDown(200));
  assert.is(link.describe(200).state, 'held-down');
});

test('recordPeerHeldDown() holds exactly the remaining time, not a full hold-down', () => {
  const link = new LinkState(holdDownMs);
  link.recordPeerHeldDown(1000, 1200);
  assert.ok(link.isHeldDown(2199));
  assert.not.ok(link.isHeldDown(2200));
  assert.is(link.heldDownRemainingMs(1500), 700);
  assert.is(link.describe(1000).lastFailureReason, 'peer holds the link down');
});

test('recordPeerHeldDown() never shortens a longer hold-down of our own', () => {
  const link = new LinkState(holdDownMs);
  link.recordSuccess(0);
  link.recordFailure(1000, 900, 'x');
  link.recordPeerHeldDown(1000, 10);
  assert.is(link.heldDownRemainingMs(1000), holdDownMs);
});

test('clear() lifts the hold-down and marks the link up', () => {
  const link = new LinkState(holdDownMs);
  link.recordSuccess(0);
  link.recordFailure(1000, 900, 'x');
  link.clear(1500);
  assert.not.ok(link.isHeldDown(1500));
  assert.is(link.describe(1500).state, 'up');
  assert.is(link.lastSuccessAt, 1500);
});

test('failures of requests sent before clear() are ignored; later ones count', () => {
  const link = new LinkState(holdDownMs);
  link.clear(1000);
  link.recordFailure(1200, 999, 'late answer of the old life');
  assert.not.ok(link.isHeldDown(1200));
  assert.is(link.lastFailureAt, undefined);
  link.recordFailure(1300, 1000, 'new life failed');
  assert.ok(link.isHeldDown(1300), 'clear() counts as the link having been up');
  assert.is(link.heldDownRemainingMs(1300), holdDownMs);
});

test('describe() reports ages and reasons', () => {
  const link = new LinkState(holdDownMs);
  assert.equal(link.describe(10), {
    state: 'up',
    heldDownRemainingMs: 0,
    lastFailureAgoMs: null,
    lastFailureReason: null,
    lastSuccessAgoMs: null,
  });
  link.recordSuccess(10);
  link.recordFailure(20, 15, 'boom');
  assert.equal(link.describe(30), {
    state: 'held-down',
    heldDownRemainingMs: 4990,
    lastFailureAgoMs: 10,
    lastFailureReason: 'boom',
    lastSuccessAgoMs: 20,
  });
});

test.run();
