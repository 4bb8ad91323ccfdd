import type { KvEvent } from '../../events/kv-event.ts';
import { wins } from './conflict-order.ts';

/** At most this many keys are kept: as many as the operation log holds events by default. */
export const unownedKeysMax = 100_000;

/**
 * Sharded store only: the winning event of each key this group does not own (under the shard map
 * this node follows) that it delivered anyway. A member of the group that follows a newer map
 * writes keys a reshard moved into the group; a member that missed the reshard's steps delivers
 * those events (the clock counts them) before it learns the map by gossip. Without this, the
 * events would be counted delivered and never held: once compacted, the keys would be missing at
 * that member for good (and an event still in the log, missing from the view, is an invariant
 * violation). When the map arrives and the group owns the keys, their entries join the view.
 * Snapshots this replica serves carry them too: a member that joins from it may follow the newer
 * map, and one that holds them must not read their absence as a delete.
 *
 * Events of keys that moved away are kept too (a member with an older map wrote them; their keys'
 * new shard gets them by hand-off): they stay here, bounded, and join the view only if a later
 * map brings the key back, where a newer import wins over them.
 */
export class UnownedKeys {
  private readonly entries = new Map<string, KvEvent>();
  /** Keys not kept because the bound was reached (a gauge of lost copies: see /debug/state). */
  dropped = 0;

  get size(): number {
    return this.entries.size;
  }

  /** Keeps each event that wins over the entry held for its key. */
  add(events: Iterable<KvEvent>): void {
    for (const event of events) {
      const current = this.entries.get(event.key);
      if (current === undefined && this.entries.size >= unownedKeysMax) {
        this.dropped++;
        continue;
      }
      if (wins(event, current)) this.entries.set(event.key, event);
    }
  }

  /** Every entry held (a snapshot sends them along: its receiver may follow the newer map). */
  values(): IterableIterator<KvEvent> {
    return this.entries.values();
  }

  /** Removes and returns the entries of the keys `owns` accepts (the group owns them now). */
  take(owns: (key: string) => boolean): KvEvent[] {
    const taken: KvEvent[] = [];
    for (const [key, event] of this.entries) {
      if (!owns(key)) continue;
      taken.push(event);
      this.entries.delete(key);
    }
    return taken;
  }
}
