import type { KvEvent } from '../../events/kv-event.ts';
import { clockSum } from '../../events/vector-clock.ts';

/**
 * An event's place in the conflict order: a Lamport timestamp. For events made while no clock entry
 * was ever retired it is the sum of the event's clock, as it always was: that sum strictly grows
 * along happens-before (a later event's clock covers an earlier one's, plus one). Once entries are
 * retired a clock no longer counts the retired lives' events, so its sum can fall below that of an
 * event in its past; such an event is made with `lamport` = max(its clock's sum, 1 + the greatest
 * place of any event delivered where it is made) (Replica.write), which again exceeds every event
 * in its causal past. The place is part of the event, not computed from any replica's state, so
 * every replica orders every two events alike whether or not it has retired an entry yet.
 */
export function placeOf(event: KvEvent): number {
  return event.lamport ?? clockSum(event.clock);
}

/**
 * The one total order on events that every replica uses to pick a key's winner: by place (above),
 * then by origin. It extends happens-before: a write that causally follows another always wins.
 * Events of one origin never tie (their places differ). Returns > 0 when `a` comes after (wins over) `b`.
 */
export function compareEvents(a: KvEvent, b: KvEvent): number {
  const byPlace = placeOf(a) - placeOf(b);
  if (byPlace !== 0) return byPlace;
  if (a.origin !== b.origin) return a.origin < b.origin ? -1 : 1;
  return a.seq - b.seq;
}

export function wins(candidate: KvEvent, current: KvEvent | undefined): boolean {
  return current === undefined || compareEvents(candidate, current) > 0;
}
