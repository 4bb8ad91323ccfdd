import { groupOf, parseReplicaId, type ReplicaId } from './ids.ts';
import type { JsonValue } from './json-value.ts';
import type { KvEvent } from './kv-event.ts';
import { ValidationError } from './validation-error.ts';
import type { VectorClock } from './vector-clock.ts';

export function isPlainObject(input: unknown): input is Record<string, unknown> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return false;
  const proto = Object.getPrototypeOf(input);
  return proto === Object.prototype || proto === null;
}

function isSeq(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n > 0;
}

/** A clock as this store writes it: replica id -> positive integer, at most `entriesMax` entries. */
export function parseClock(input: unknown, entriesMax: number, what = 'clock'): VectorClock {
  if (!isPlainObject(input)) throw new ValidationError(`${what} must be an object`);
  const out: Record<string, number> = {};
  let count = 0;
  for (const id in input) {
    if (++count > entriesMax) throw new ValidationError(`${what} has too many entries (> ${entriesMax})`);
    const value = input[id];
    if (!isSeq(value)) throw new ValidationError(`${what} entry ${JSON.stringify(id).slice(0, 80)} must be a positive integer`);
    parseReplicaId(id);
    out[id] = value;
  }
  return Object.freeze(out) as VectorClock;
}

/** An event as peers send it. Checks the invariant clock[origin] === seq. */
export function parseEvent(input: unknown, clockEntriesMax: number): KvEvent {
  if (!isPlainObject(input)) throw new ValidationError('event must be an object');
  const { type, origin, seq, key, clock } = input;
  if (type !== 'put' && type !== 'delete') throw new ValidationError('event type must be "put" or "delete"');
  const originId: ReplicaId = parseReplicaId(origin);
  if (!isSeq(seq)) throw new ValidationError('event seq must be a positive integer');
  if (typeof key !== 'string' || key.length === 0) throw new ValidationError('event key must be a non-empty string');
  const parsedClock = parseClock(clock, clockEntriesMax, 'event clock');
  if (parsedClock[originId] !== seq) throw new ValidationError('event clock must count the event itself');
  const { lamport } = input;
  if (lamport !== undefined && !isSeq(lamport)) throw new ValidationError('event lamport must be a positive integer');
  const order: { lamport?: number; foreign?: VectorClock } = lamport === undefined ? {} : { lamport };
  if (input.foreign !== undefined) {
    const foreign = parseClock(input.foreign, clockEntriesMax, 'event foreign clock');
    for (const id in foreign) if (groupOf(id as ReplicaId) === groupOf(originId)) throw new ValidationError('event foreign clock names its own group');
    order.foreign = foreign;
  }
  if (type === 'put') {
    if (!('value' in input) || input.value === null || input.value === undefined) {
      throw new ValidationError('put event must carry a value');
    }
    const value = checkValue(input.value, valueDepthMax);
    return Object.freeze({ type, origin: originId, seq, key, value, clock: parsedClock, ...order });
  }
  return Object.freeze({ type, origin: originId, seq, key, clock: parsedClock, ...order });
}

/** How deeply a value may nest (arrays and objects). Deeper values are refused at the door. */
export const valueDepthMax = 100;

/**
 * Checks that `input` is a value JSON carries back unchanged, and freezes it deeply: no number
 * JSON cannot represent (1e400 parses as Infinity and would come back as null), nesting no deeper
 * than `depthMax`. Iterative, so hostile nesting cannot overflow the stack. A value that passes
 * here replicates: peers run the same check on what they receive.
 */
export function checkValue(input: unknown, depthMax: number): JsonValue {
  const stack: { value: unknown; depth: number }[] = [{ value: input, depth: 0 }];
  while (stack.length > 0) {
    const { value, depth } = stack.pop()!;
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) throw new ValidationError('Value contains a number JSON cannot represent (too large or not finite)');
    } else if (typeof value === 'object' && value !== null) {
      if (depth >= depthMax) throw new ValidationError(`Value is nested too deeply (more than ${depthMax} levels)`);
      if (!Array.isArray(value) && !isPlainObject(value)) throw new ValidationError('Value must be JSON');
      Object.freeze(value);
      for (const inner of Object.values(value)) stack.push({ value: inner, depth: depth + 1 });
    } else if (typeof value !== 'string' && typeof value !== 'boolean' && value !== null) {
      throw new ValidationError('Value must be JSON');
    }
  }
  return input as JsonValue;
}
