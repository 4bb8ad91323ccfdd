import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  clockCovers,
  clockEntry,
  clockIncludes,
  clockSum,
  compareClocks,
  emptyClock,
  meetClocks,
  mergeClocks,
  type VectorClock,
} from '../../events/vector-clock.ts';
import { arbClock, clock, id } from './support.ts';

/** Same entries, ignoring key order and explicit zeros. */
function same(a: VectorClock, b: VectorClock): boolean {
  return compareClocks(a, b) === 'equal';
}

test('compareClocks() reports equal, before, after and concurrent clocks', () => {
  assert.is(compareClocks(clock({ 0: 1, 1: 2 }), clock({ 0: 1, 1: 2 })), 'equal');
  assert.is(compareClocks(clock({ 0: 1 }), clock({ 0: 1, 1: 2 })), 'before');
  assert.is(compareClocks(clock({ 0: 2, 1: 2 }), clock({ 0: 1, 1: 2 })), 'after');
  assert.is(compareClocks(clock({ 0: 2 }), clock({ 1: 1 })), 'concurrent');
  assert.is(compareClocks(emptyClock, emptyClock), 'equal');
  assert.is(compareClocks(emptyClock, clock({ 2: 1 })), 'before');
});

test('compareClocks() treats a missing entry as 0 and an explicit 0 as missing', () => {
  const withZero = Object.freeze({ [id(0)]: 1, [id(1)]: 0 }) as VectorClock;
  assert.is(compareClocks(withZero, clock({ 0: 1 })), 'equal');
  assert.is(compareClocks(clock({ 0: 1 }), withZero), 'equal');
  assert.is(clockEntry(clock({ 0: 3 }), id(2)), 0);
});

test('compareClocks() is antisymmetric', () => {
  const flip = { before: 'after', after: 'before', equal: 'equal', concurrent: 'concurrent' } as const;
  fc.assert(fc.property(arbClock, arbClock, (a, b) => compareClocks(b, a) === flip[compareClocks(a, b)]));
});

test('mergeClocks() is commutative', () => {
  fc.assert(fc.property(arbClock, arbClock, (a, b) => same(mergeClocks(a, b), mergeClocks(b, a))));
});

test('mergeClocks() is associative', () => {
  fc.assert(
    fc.property(arbClock, arbClock, arbClock, (a, b, c) => same(mergeClocks(mergeClocks(a, b), c), mergeClocks(a, mergeClocks(b, c)))),
  );
});

test('mergeClocks() is idempotent', () => {
  fc.assert(fc.property(arbClock, (a) => same(mergeClocks(a, a), a)));
});

test('mergeClocks() is the least upper bound', () => {
  fc.assert(
    fc.property(arbClock, arbClock, arbClock, (a, b, c) => {
      const m = mergeClocks(a, b);
      if (!clockCovers(m, a) || !clockCovers(m, b)) return false;
      // Anything that covers both covers the merge.
      if (clockCovers(c, a) && clockCovers(c, b) && !clockCovers(c, m)) return false;
      return true;
    }),
  );
});

test('mergeClocks() returns frozen clocks and leaves its inputs alone', () => {
  const a = clock({ 0: 1 });
  const b = clock({ 1: 1 });
  const m = mergeClocks(a, b);
  assert.ok(Object.isFrozen(m));
  assert.equal({ ...a }, { [id(0)]: 1 });
  assert.equal({ ...b }, { [id(1)]: 1 });
});

test('meetClocks() is the greatest lower bound and drops zero entries', () => {
  fc.assert(
    fc.property(arbClock, arbClock, (a, b) => {
      const m = meetClocks(a, b);
      if (!clockCovers(a, m) || !clockCovers(b, m)) return false;
      for (const key in m) if (m[key as keyof typeof m] === 0) return false;
      return same(m, meetClocks(b, a));
    }),
  );
  assert.equal({ ...meetClocks(clock({ 0: 2, 1: 1 }), clock({ 0: 1, 2: 5 })) }, { [id(0)]: 1 });
});

test('clockCovers() is a partial order (reflexive, antisymmetric, transitive)', () => {
  fc.assert(fc.property(arbClock, (a) => clockCovers(a, a)));
  fc.assert(fc.property(arbClock, arbClock, (a, b) => !(clockCovers(a, b) && clockCovers(b, a)) || same(a, b)));
  fc.assert(
    fc.property(arbClock, arbClock, arbClock, (a, b, c) => {
      const ab = mergeClocks(a, b);
      const abc = mergeClocks(ab, c);
      // a <= ab <= abc, so a <= abc; and the random triple itself.
      if (!clockCovers(abc, a)) return false;
      return !(clockCovers(b, a) && clockCovers(c, b)) || clockCovers(c, a);
    }),
  );
});

test('clockCovers() agrees with compareClocks()', () => {
  fc.assert(
    fc.property(arbClock, arbClock, (a, b) => {
      const order = compareClocks(a, b);
      const aCoversB = clockCovers(a, b);
      const bCoversA = clockCovers(b, a);
      switch (order) {
        case 'equal':
          return aCoversB && bCoversA;
        case 'after':
          return aCoversB && !bCoversA;
        case 'before':
          return !aCoversB && bCoversA;
        case 'concurrent':
          return !aCoversB && !bCoversA;
      }
    }),
  );
});

test('clockIncludes() holds for an event exactly when the clock covers the clock of that event alone', () => {
  fc.assert(
    fc.property(arbClock, fc.constantFrom(id(0), id(1), id(2), id(3)), fc.integer({ min: 1, max: 8 }), (a, origin, seq) =>
      clockIncludes(a, origin, seq) === clockCovers(a, { [origin]: seq }),
    ),
  );
  assert.ok(clockIncludes(clock({ 0: 3 }), id(0), 1), 'an earlier event of the origin');
  assert.ok(clockIncludes(clock({ 0: 3 }), id(0), 3), 'the last one');
  assert.not.ok(clockIncludes(clock({ 0: 3 }), id(0), 4), 'the next one');
  assert.not.ok(clockIncludes(clock({ 0: 3 }), id(1), 1), 'an origin the clock has no entry for');
});

test('clockSum() strictly grows along happens-before', () => {
  fc.assert(
    fc.property(arbClock, arbClock, (a, b) => {
      const order = compareClocks(a, b);
      if (order === 'before') return clockSum(a) < clockSum(b);
      if (order === 'after') return clockSum(a) > clockSum(b);
      if (order === 'equal') return clockSum(a) === clockSum(b);
      return true;
    }),
  );
});

test.run();
