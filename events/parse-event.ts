import { parseReplicaId, type ReplicaId } from './ids.ts';
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
  if (type === 'put') {
    if (!('value' in input) || input.value === null || input.value === undefined) {
      throw new ValidationError('put event must carry a value');
    }
    return deepFreeze({ type, origin: originId, seq, key, value: input.value as JsonValue, clock: parsedClock });
  }
  return Object.freeze({ type, origin: originId, seq, key, clock: parsedClock });
}

export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}
