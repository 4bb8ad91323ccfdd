import { parseClock } from './parse-event.ts';
import { ValidationError } from './validation-error.ts';
import { emptyClock, type VectorClock } from './vector-clock.ts';

/**
 * Causal metadata is what clients carry between requests. This store issues a vector clock
 * (`{"<address>/<incarnation>": <count>, ...}`), opaque to clients. Older clients send `null`,
 * `{}`, `""`, `"null"` or nothing for "no dependencies"; some send back the JSON text of what they
 * got. Anything else is not metadata this store issued: a ValidationError (400).
 */
export function parseCausalMetadata(input: unknown, entriesMax: number): VectorClock {
  if (input === undefined || input === null || input === '' || input === 'null') return emptyClock;
  let candidate = input;
  if (typeof input === 'string') {
    try {
      candidate = JSON.parse(input);
    } catch {
      throw new ValidationError('causal-metadata is not metadata this store issued (a string that is not JSON)');
    }
    if (candidate === null || candidate === '') return emptyClock;
  }
  try {
    return parseClock(candidate, entriesMax, 'causal-metadata');
  } catch (error) {
    if (error instanceof ValidationError) {
      throw new ValidationError(`causal-metadata is not metadata this store issued: ${error.message}`);
    }
    throw error;
  }
}

/** Metadata as handed to clients: the clock itself. */
export function formatCausalMetadata(clock: VectorClock): VectorClock {
  return clock;
}
