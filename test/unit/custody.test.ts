import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Custody } from '../../src/core/custody.ts';
import { id, put } from './support.ts';

const owner = id(1);
const e1 = put(1, 1, 'k1', 1);
const e2 = put(1, 2, 'k2', 2, { 1: 1 });
const e3 = put(1, 3, 'k3', 3, { 1: 2 });
const e4 = put(1, 4, 'k4', 4, { 1: 3 });

test('keeps the owner’s own events that follow what was delivered, gap-free', () => {
  const custody = new Custody(100);
  custody.keep(owner, [e2, e3], 1);
  assert.is(custody.heldCount, 2);
  assert.is(custody.heldLast(), e3);
  custody.keep(owner, [e3, e4], 1);
  assert.is(custody.heldLast(), e4, 'a repeat is skipped, what follows is kept');
  assert.equal(custody.release(), [e2, e3, e4]);
});

test('skips events of other origins, events past a gap, and events already delivered', () => {
  const custody = new Custody(100);
  const foreign = put(2, 1, 'x', 1);
  custody.keep(owner, [foreign, e1, e3], 0);
  assert.equal(custody.release(), [e1], 'e3 would leave a gap');
  custody.keep(owner, [e1, e2], 2);
  assert.is(custody.heldCount, 0, 'both delivered already');
});

test('keeps no more than its bound', () => {
  const custody = new Custody(2);
  custody.keep(owner, [e1, e2, e3, e4], 0);
  assert.equal(custody.release(), [e1, e2]);
});

test('release() hands over what was held, once', () => {
  const custody = new Custody(10);
  custody.keep(owner, [e1], 0);
  assert.equal(custody.release(), [e1]);
  assert.is(custody.heldCount, 0);
  assert.is(custody.heldLast(), undefined);
  assert.equal(custody.release(), []);
});

test('what the peer keeps for us only grows, until its new life has lost it; what it left with us stays', () => {
  const custody = new Custody(10);
  custody.peerKeeps(3);
  custody.peerKeeps(2);
  assert.is(custody.keptForUsSeq, 3);
  custody.keep(owner, [e1], 0);
  custody.peerRestarted();
  assert.is(custody.keptForUsSeq, 0);
  assert.is(custody.heldCount, 1, 'it may be the only copy of its previous life’s acknowledged writes');
});

test.run();
