import type { KvEvent } from '../../events/kv-event.ts';

/**
 * Where delivered events are kept beyond memory: the node hands over every batch it delivers, in
 * delivery order. With no DATA_DIR the store keeps nothing beyond memory (storage/memory-storage.ts).
 * The seam a durable log plugs into (group commit, snapshots and recovery live behind it).
 */
export interface Storage {
  append(events: readonly KvEvent[]): void;
  close(): void;
}
