import type { Address } from '../../events/ids.ts';
import type { KvEvent } from '../../events/kv-event.ts';
import type { RetiredRecord } from '../../events/peer-messages.ts';
import type { VectorClock } from '../../events/vector-clock.ts';

/** A frozen cut of a replica's state, ready to be sent in chunks: the winners at `clock`. */
export interface SnapshotSource {
  readonly snapshotId: string;
  readonly clock: VectorClock;
  readonly view: readonly Address[];
  readonly entries: readonly KvEvent[];
  /** The lives retired at the cut, as the `retired` field of its chunks. */
  readonly retired: { readonly retired?: RetiredRecord };
  /** The greatest place delivered at the cut, collected tombstones included (SnapshotChunk.maxPlace). */
  readonly maxPlace: number;
}

/** Chunk `index` of a snapshot, at most `keysMax` entries. */
export function snapshotChunkEntries(source: SnapshotSource, index: number, keysMax: number): { entries: readonly KvEvent[]; last: boolean } {
  const from = index * keysMax;
  const to = Math.min(source.entries.length, from + keysMax);
  return { entries: source.entries.slice(from, to), last: to >= source.entries.length };
}
