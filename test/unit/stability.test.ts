import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { emptyClock } from '../../events/vector-clock.ts';
import { Stability, type MemberProgress } from '../../src/core/stability.ts';
import { addresses, clock } from './support.ts';

const [B, C] = [addresses[1]!, addresses[2]!];

const member = (address = B, known = clock({}), incarnation: string | undefined = 'a'): MemberProgress => ({ address, incarnation, known });

test('the frontier is what this replica and every member counted have delivered', () => {
  const stability = new Stability(emptyClock);
  stability.measure(clock({ 0: 5, 1: 2 }), [member(B, clock({ 0: 3, 1: 2 })), member(C, clock({ 0: 4, 1: 1 }))], undefined, true);
  assert.equal(stability.frontier, clock({ 0: 3, 1: 1 }));
});

test('tombstones go only after the same members were asked twice and the frontier covers the join taken the first time', () => {
  const stability = new Stability(emptyClock);
  const delivered = clock({ 0: 4 });
  // First measure: B has 2, C has 3; the join of what was reported is 4.
  assert.is(stability.measure(delivered, [member(B, clock({ 0: 2 })), member(C, clock({ 0: 3 }))], undefined, true), undefined, 'a first measure decides nothing');
  // Same members, but the frontier (3) does not cover the first join (4) yet.
  assert.is(stability.measure(delivered, [member(B, clock({ 0: 3 })), member(C, clock({ 0: 3 }))], undefined, true), undefined);
  // Now it does: the tombstones stable at the first measure may go.
  assert.equal(stability.measure(delivered, [member(B, clock({ 0: 4 })), member(C, clock({ 0: 4 }))], undefined, true), clock({ 0: 2 }));
  // And the cut moved on: the next one is the frontier of that last measure.
  assert.equal(stability.measure(delivered, [member(B, clock({ 0: 4 })), member(C, clock({ 0: 4 }))], undefined, true), clock({ 0: 4 }));
});

test('another set of members, or a member in a new life, starts the two measures again', () => {
  const stability = new Stability(emptyClock);
  const delivered = clock({ 0: 2 });
  const everyone = clock({ 0: 2 });
  stability.measure(delivered, [member(B, everyone)], undefined, true);
  assert.is(stability.measure(delivered, [member(B, everyone), member(C, everyone)], undefined, true), undefined, 'C joined the view');
  assert.is(stability.measure(delivered, [member(B, everyone, 'b2'), member(C, everyone)], undefined, true), undefined, 'B restarted');
  assert.equal(stability.measure(delivered, [member(C, everyone), member(B, everyone, 'b2')], undefined, true), everyone, 'the order of members does not matter');
});

test('nothing goes while some replica we track is out of the view', () => {
  const stability = new Stability(emptyClock);
  const delivered = clock({ 0: 2 });
  stability.measure(delivered, [member(B, delivered)], undefined, false);
  assert.is(stability.measure(delivered, [member(B, delivered)], undefined, false), undefined);
  assert.equal(stability.measure(delivered, [member(B, delivered)], undefined, true), delivered, 'once the whole cluster is back in the view');
});

test('a lagging member stops holding the frontier back, but blocks tombstone collection until it is counted again', () => {
  const stability = new Stability(emptyClock);
  const delivered = clock({ 0: 10 });
  const lagging = member(C, clock({ 0: 1 }));
  const upToDate = member(B, clock({ 0: 10 }));
  assert.is(stability.measure(delivered, [upToDate, lagging], 5, true), undefined);
  assert.equal(stability.frontier, delivered, 'C, 9 events behind with at most 5 allowed, is left out');
  assert.is(stability.measure(delivered, [upToDate, lagging], 5, true), undefined, 'same members, but one lagging: no tombstone goes');
  assert.is(stability.measure(delivered, [upToDate, lagging], 5, true), undefined);
  assert.equal(stability.frontier, delivered);
  // Without a lag bound C holds the frontier back again, and is counted.
  assert.is(stability.measure(delivered, [upToDate, lagging], undefined, true), undefined);
  assert.equal(stability.frontier, clock({ 0: 1 }));
});

test.run();
