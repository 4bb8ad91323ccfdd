import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatCausalMetadata, parseCausalMetadata } from '../../events/causal-metadata.ts';
import { emptyClock } from '../../events/vector-clock.ts';
import { clock, id, rejects } from './support.ts';

test('parseCausalMetadata() reads null, {}, "", "null" and a missing field as no dependencies', () => {
  for (const input of [undefined, null, '', 'null', {}, '{}', '""']) {
    const parsed = parseCausalMetadata(input, 10);
    assert.equal({ ...parsed }, {}, `for ${JSON.stringify(input)}`);
  }
  assert.is(parseCausalMetadata(null, 10), emptyClock);
  assert.is(parseCausalMetadata(undefined, 10), emptyClock);
});

test('parseCausalMetadata() reads a clock it issued, as an object or as its JSON text', () => {
  const issued = formatCausalMetadata(clock({ 0: 3, 2: 1 }));
  assert.equal({ ...parseCausalMetadata(issued, 10) }, { ...issued });
  assert.equal({ ...parseCausalMetadata(JSON.stringify(issued), 10) }, { ...issued });
  assert.ok(Object.isFrozen(parseCausalMetadata({ [id(0)]: 1 }, 10)));
});

test('parseCausalMetadata() refuses what it did not issue, saying so', () => {
  rejects(() => parseCausalMetadata('garbage', 10), /^causal-metadata is not metadata this store issued \(a string that is not JSON\)$/);
  rejects(() => parseCausalMetadata(5, 10), /^causal-metadata is not metadata this store issued: causal-metadata must be an object$/);
  rejects(() => parseCausalMetadata([], 10), /not metadata this store issued/);
  rejects(() => parseCausalMetadata(true, 10), /not metadata this store issued/);
  rejects(() => parseCausalMetadata('"x"', 10), /not metadata this store issued/);
  rejects(() => parseCausalMetadata('[1]', 10), /not metadata this store issued/);
  rejects(() => parseCausalMetadata({ vc: [1, 2] }, 10), /not metadata this store issued/);
  rejects(() => parseCausalMetadata({ [id(0)]: 0 }, 10), /positive integer/);
});

test('parseCausalMetadata() bounds the number of entries', () => {
  rejects(() => parseCausalMetadata({ [id(0)]: 1, [id(1)]: 1 }, 1), /too many entries \(> 1\)/);
});

test('formatCausalMetadata() hands out the clock as is', () => {
  const c = clock({ 1: 4 });
  assert.is(formatCausalMetadata(c), c);
});

test.run();
