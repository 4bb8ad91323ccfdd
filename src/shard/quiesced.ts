import type { ReplicaId } from '../../events/ids.ts';
import type { KvEvent } from '../../events/kv-event.ts';
import type { RetiredRecord } from '../../events/peer-messages.ts';
import type { QuiescedGroup } from '../../events/shard-messages.ts';
import { clockCovers, mergeClocks } from '../../events/vector-clock.ts';
import { RetiredLives } from '../core/retired-lives.ts';

/** Each quiesced group's retired lives, read once (a hand-off asks about every event). */
const retiredOf = new WeakMap<QuiescedGroup, RetiredLives>();

/**
 * Whether the reshard that quiesced a group took `event` of that group: its agreed clock covers it,
 * or the event's life was retired past it there. Retirement drops a life's entry from the clock
 * that members state; it retires a life only once every member has delivered its events up to
 * its final seq, so those went with the reshard too (found in review: without this, a fault-free
 * reshard stranded every write of a member's earlier life).
 */
export function quiescedTook(quiesced: QuiescedGroup, event: Pick<KvEvent, 'origin' | 'seq'>): boolean {
  if ((quiesced.clock[event.origin] ?? 0) >= event.seq) return true;
  return quiesced.retired !== undefined && retiredLivesOf(quiesced).satisfies(event.origin as ReplicaId, event.seq);
}

/** `noted` says nothing `known` (of the same reshard) does not: the same clock again, as gossip repeats it every few seconds. */
export function quiescedCovers(known: QuiescedGroup, noted: QuiescedGroup): boolean {
  if (known.epoch !== noted.epoch || !clockCovers(known.clock, noted.clock)) return false;
  if (noted.retired === undefined) return true;
  const lives = known.retired === undefined ? undefined : retiredLivesOf(known);
  return lives !== undefined && RetiredLives.entries(noted.retired).every(({ id, seq }) => lives.satisfies(id, seq));
}

function retiredLivesOf(quiesced: QuiescedGroup): RetiredLives {
  let retired = retiredOf.get(quiesced);
  if (retired === undefined) {
    retired = livesOf(quiesced.retired === undefined ? [] : [quiesced.retired]);
    retiredOf.set(quiesced, retired);
  }
  return retired;
}

/** What several members (or two notes of one reshard) say a group's quiesce took: clocks merged, and every life any of them retired. */
export function mergeQuiesced(epoch: number, parts: readonly { clock: QuiescedGroup['clock']; retired?: RetiredRecord }[]): QuiescedGroup {
  const clock = parts.reduce((merged, part) => mergeClocks(merged, part.clock), parts[0]?.clock ?? {});
  const records = parts.flatMap((part) => (part.retired === undefined ? [] : [part.retired]));
  if (records.length === 0) return { epoch, clock };
  return { epoch, clock, retired: livesOf(records).toRecord() };
}

function livesOf(records: readonly RetiredRecord[]): RetiredLives {
  const lives = new RetiredLives(Number.POSITIVE_INFINITY);
  for (const record of records) for (const { id, seq } of RetiredLives.entries(record)) lives.add(id, seq);
  return lives;
}
