import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkValue, isPlainObject, parseClock, parseEvent } from '../../events/parse-event.ts';
import { id, rejects } from './support.ts';

const origin = id(0);

function rawPut(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { type: 'put', origin, seq: 2, key: 'k', value: { nested: [1, 'two'] }, clock: { [origin]: 2, [id(1)]: 5 }, ...overrides };
}

test('isPlainObject() accepts plain and null-prototype objects only', () => {
  assert.ok(isPlainObject({}));
  assert.ok(isPlainObject(Object.create(null)));
  assert.not.ok(isPlainObject([]));
  assert.not.ok(isPlainObject(null));
  assert.not.ok(isPlainObject('x'));
  assert.not.ok(isPlainObject(new Date()));
  assert.not.ok(isPlainObject(new Map()));
});

test('parseClock() returns a frozen copy of a valid clock', () => {
  const input = { [id(0)]: 1, [id(1)]: 9 };
  const parsed = parseClock(input, 10);
  assert.equal({ ...parsed }, input);
  assert.ok(Object.isFrozen(parsed));
  assert.is.not(parsed, input);
  assert.equal({ ...parseClock({}, 10) }, {});
});

test('parseClock() refuses non-objects, bad counts, bad ids and too many entries', () => {
  rejects(() => parseClock([], 10), /^clock must be an object$/);
  rejects(() => parseClock(null, 10, 'event clock'), /^event clock must be an object$/);
  rejects(() => parseClock({ [origin]: 0 }, 10), /must be a positive integer/);
  rejects(() => parseClock({ [origin]: -1 }, 10), /must be a positive integer/);
  rejects(() => parseClock({ [origin]: 1.5 }, 10), /must be a positive integer/);
  rejects(() => parseClock({ [origin]: '1' }, 10), /must be a positive integer/);
  rejects(() => parseClock({ [origin]: 2 ** 53 }, 10), /must be a positive integer/);
  rejects(() => parseClock({ 'not-an-id': 1 }, 10), /not a replica id/);
  rejects(() => parseClock({ [id(0)]: 1, [id(1)]: 1, [id(2)]: 1 }, 2), /too many entries \(> 2\)/);
});

test('parseEvent() accepts a put and deep-freezes it', () => {
  const event = parseEvent(rawPut(), 10);
  assert.is(event.type, 'put');
  assert.is(event.origin, origin);
  assert.is(event.seq, 2);
  assert.equal(event.type === 'put' ? event.value : undefined, { nested: [1, 'two'] });
  assert.ok(Object.isFrozen(event));
  assert.ok(Object.isFrozen(event.clock));
  assert.ok(event.type === 'put' && Object.isFrozen(event.value));
});

test('parseEvent() keeps falsy JSON values that are not null', () => {
  for (const value of [0, false, '', [], {}]) {
    const event = parseEvent(rawPut({ value }), 10);
    assert.equal(event.type === 'put' ? event.value : undefined, value);
  }
});

test('parseEvent() accepts a delete, which carries no value', () => {
  const event = parseEvent({ type: 'delete', origin, seq: 1, key: 'k', clock: { [origin]: 1 } }, 10);
  assert.is(event.type, 'delete');
  assert.not.ok('value' in event);
});

test('parseEvent() refuses malformed events with a clear message', () => {
  rejects(() => parseEvent('event', 10), /^event must be an object$/);
  rejects(() => parseEvent(rawPut({ type: 'patch' }), 10), /event type must be "put" or "delete"/);
  rejects(() => parseEvent(rawPut({ origin: 'x' }), 10), /not a replica id/);
  rejects(() => parseEvent(rawPut({ seq: 0 }), 10), /event seq must be a positive integer/);
  rejects(() => parseEvent(rawPut({ key: '' }), 10), /event key must be a non-empty string/);
  rejects(() => parseEvent(rawPut({ key: 5 }), 10), /event key must be a non-empty string/);
  rejects(() => parseEvent(rawPut({ clock: 'c' }), 10), /^event clock must be an object$/);
  rejects(() => parseEvent(rawPut({ value: null }), 10), /put event must carry a value/);
  const noValue = rawPut();
  delete noValue.value;
  rejects(() => parseEvent(noValue, 10), /put event must carry a value/);
});

test('parseEvent() refuses an event whose clock does not count the event itself', () => {
  rejects(() => parseEvent(rawPut({ clock: { [origin]: 3 } }), 10), /event clock must count the event itself/);
  rejects(() => parseEvent(rawPut({ clock: { [id(1)]: 2 } }), 10), /event clock must count the event itself/);
});

test('parseEvent() bounds the clock size', () => {
  rejects(() => parseEvent(rawPut(), 1), /event clock has too many entries \(> 1\)/);
});

test('checkValue() freezes nested values and returns its argument', () => {
  const value = { a: [{ b: 1 }], c: 'x' };
  assert.is(checkValue(value, 10), value);
  assert.ok(Object.isFrozen(value.a));
  assert.ok(Object.isFrozen(value.a[0]));
  assert.is(checkValue(3, 10), 3);
});

test('checkValue() refuses numbers JSON cannot carry back and nesting past the bound', () => {
  rejects(() => checkValue({ x: [Infinity] }, 10), /number JSON cannot represent/);
  rejects(() => checkValue(JSON.parse('[1e400]'), 10), /number JSON cannot represent/);
  const deep = JSON.parse('['.repeat(50_000) + ']'.repeat(50_000));
  rejects(() => checkValue(deep, 100), /nested too deeply \(more than 100 levels\)/);
  assert.ok(checkValue(JSON.parse('['.repeat(100) + ']'.repeat(100)), 100));
});

test('checkValue() refuses what is not JSON', () => {
  for (const value of [undefined, () => 1, 10n, new Date(0), { m: new Map() }, [Symbol('s')]]) {
    rejects(() => checkValue(value, 10), /Value must be JSON/);
  }
});

test('checkValue() allows exactly depthMax levels of nesting', () => {
  const nest = (depth: number): unknown => {
    let value: unknown = 1;
    for (let i = 0; i < depth; i++) value = { v: value };
    return value;
  };
  assert.ok(checkValue(nest(5), 5));
  rejects(() => checkValue(nest(6), 5), /nested too deeply \(more than 5 levels\)/);
});

test('parseEvent() refuses a put whose value does not survive JSON', () => {
  rejects(() => parseEvent({ ...rawPut(), value: [Infinity] }, 8), /number JSON cannot represent/);
});

test.run();
