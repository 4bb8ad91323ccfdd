import { enableMapSet, Immer } from 'immer';
import type { KvEvent } from '../../events/kv-event.ts';
import { clockCovers, type VectorClock } from '../../events/vector-clock.ts';
import { wins } from './conflict-order.ts';

enableMapSet();

// Events are frozen when they are made; immer's automatic deep freeze would walk all 1024 buckets
// of every new view (about 10x the cost of an update, measured), so this instance does not freeze.
const { produce } = new Immer({ autoFreeze: false });

/**
 * The materialized key-value view: for each key, the winning event (a put, or a delete as a
 * tombstone). Immutable, built with immer. Keys are spread over fixed buckets so that applying an
 * event copies one small bucket instead of the whole map (immer copies a Map on write). The
 * buckets sit in groups, two levels of 32: immer copies, and when finishing walks, every array on
 * the path to a change, so one flat array of 1024 buckets cost more than the change itself.
 */
export interface KvView {
  readonly groups: readonly (readonly ReadonlyMap<string, KvEvent>[])[];
  /** Keys whose winner is a put. */
  readonly liveKeys: number;
  readonly tombstones: number;
}

const groupCount = 32;
const bucketsPerGroup = 32;

/** FNV-1a of the key: which group, and which bucket in it. */
function hashOf(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % (groupCount * bucketsPerGroup);
}

export const emptyView: KvView = Object.freeze({
  groups: Object.freeze(
    Array.from({ length: groupCount }, () => Object.freeze(Array.from({ length: bucketsPerGroup }, () => new Map<string, KvEvent>()))),
  ),
  liveKeys: 0,
  tombstones: 0,
});

/** The bucket a key hashes to, in a view or in an immer draft of one. */
function bucketIn<Bucket>(groups: readonly (readonly Bucket[])[], key: string): Bucket {
  const hash = hashOf(key);
  return groups[Math.floor(hash / bucketsPerGroup)]![hash % bucketsPerGroup]!;
}

export function lookup(view: KvView, key: string): KvEvent | undefined {
  return bucketIn(view.groups, key).get(key);
}

type Draft = { groups: Map<string, KvEvent>[][]; liveKeys: number; tombstones: number };

function counts(event: KvEvent | undefined): [live: number, tombstones: number] {
  if (event === undefined) return [0, 0];
  return event.type === 'put' ? [1, 0] : [0, 1];
}

/**
 * Writes the computed winners into a new view. Winners are decided outside immer (reading the
 * base view), so the draft is only written to: no value is ever drafted.
 */
function withWinners(view: KvView, winners: ReadonlyMap<string, KvEvent | undefined>): KvView {
  if (winners.size === 0) return view;
  return produce(view, (draft: Draft) => {
    for (const [key, event] of winners) {
      const previous = lookup(view, key);
      if (previous === event) continue;
      const [liveBefore, tombsBefore] = counts(previous);
      const [liveAfter, tombsAfter] = counts(event);
      draft.liveKeys += liveAfter - liveBefore;
      draft.tombstones += tombsAfter - tombsBefore;
      const bucket = bucketIn(draft.groups, key);
      if (event === undefined) bucket.delete(key);
      else bucket.set(key, event);
    }
  });
}

/** Folds delivered events into the view: each key keeps the greatest event in the conflict order. */
export function applyEvents(view: KvView, events: Iterable<KvEvent>): KvView {
  const winners = new Map<string, KvEvent>();
  for (const event of events) {
    const current = winners.get(event.key) ?? lookup(view, event.key);
    if (wins(event, current)) winners.set(event.key, event);
  }
  return withWinners(view, winners);
}

/** Rebuilds a view from nothing; must equal the incrementally maintained one. */
export function foldEvents(events: Iterable<KvEvent>): KvView {
  return applyEvents(emptyView, events);
}

export function* viewEntries(view: KvView): Generator<KvEvent> {
  for (const group of view.groups) for (const bucket of group) yield* bucket.values();
}

/**
 * Joins a snapshot (the winners of another replica at `snapshotClock`) into `view` (this
 * replica's winners at `viewClock`). Both sides may have collected stable tombstones, so a key
 * missing on one side is not simply "unknown": if the side that lacks the key has delivered the
 * other side's version, it deleted it (and forgot the tombstone), and the delete wins.
 */
export function mergeSnapshot(
  view: KvView,
  viewClock: VectorClock,
  snapshotEntries: Iterable<KvEvent>,
  snapshotClock: VectorClock,
): KvView {
  const winners = new Map<string, KvEvent | undefined>();
  const seen = new Set<string>();
  for (const theirs of snapshotEntries) {
    seen.add(theirs.key);
    const ours = lookup(view, theirs.key);
    if (ours === undefined ? !clockCovers(viewClock, theirs.clock) : wins(theirs, ours)) winners.set(theirs.key, theirs);
  }
  for (const ours of viewEntries(view)) {
    if (!seen.has(ours.key) && clockCovers(snapshotClock, ours.clock)) winners.set(ours.key, undefined);
  }
  return withWinners(view, winners);
}

/** Forgets tombstones that every replica has delivered: no replica can still hold an older version. */
export function dropStableTombstones(view: KvView, stable: VectorClock): KvView {
  if (view.tombstones === 0) return view;
  const winners = new Map<string, undefined>();
  for (const event of viewEntries(view)) {
    if (event.type === 'delete' && (stable[event.origin] ?? 0) >= event.seq) winners.set(event.key, undefined);
  }
  return withWinners(view, winners);
}
