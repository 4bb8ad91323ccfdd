import type { KvEvent } from '../../events/kv-event.ts';
import type { VectorClock } from '../../events/vector-clock.ts';

/** The whole state at one delivered clock: every key's winner (tombstones included), and what else the core keeps. */
export interface StoredSnapshot {
  readonly clock: VectorClock;
  readonly entries: readonly KvEvent[];
  /** The record of retired replica lives (src/core/retired-lives.ts), as JSON; storage keeps it opaque. */
  readonly retired: unknown;
  /** The greatest place delivered (SnapshotChunk.maxPlace); absent from snapshots written before it was kept. */
  readonly maxPlace?: number;
}

/** What a DATA_DIR held at start: the newest valid snapshot and the events delivered after it, in delivery order. */
export interface StoredState {
  readonly snapshot: StoredSnapshot | undefined;
  readonly events: readonly KvEvent[];
}

/**
 * Where delivered events are kept beyond memory. The node hands over every batch it delivers, in
 * delivery order, asks for a flush before it acknowledges (or sends anywhere) its own writes, and
 * offers a snapshot when storage wants one (so the disk, like the memory, follows the live keys).
 * With no DATA_DIR nothing is kept beyond memory (storage/memory-storage.ts); with one, the durable
 * log (storage/durable-log.ts).
 */
export interface Storage {
  /** Events just delivered, in delivery order. Never throws: a failure shows in `unavailable` and in the next flush. */
  append(events: readonly KvEvent[]): void;
  /**
   * Calls `done` once everything appended before this call is as durable as this storage makes
   * it (FSYNC=batch: on disk; off: handed to the OS), or with the error that keeps it from being so.
   */
  flush(done: (error: Error | undefined) => void): void;
  /** Why writes cannot be stored now (disk full, unwritable), or undefined while they can. */
  readonly unavailable: string | undefined;
  /** True when enough was appended since the last snapshot that a new one would shrink the disk. */
  wantsSnapshot(): boolean;
  /** Writes `snapshot` (made now, covering everything appended so far) and drops what it covers. */
  snapshot(snapshot: StoredSnapshot): void;
  close(): void;
}
