import { eventId, type KvEvent } from '../../events/kv-event.ts';

/** Most events waiting to be handed on, over all groups: one life's entries each, a few lives at most. */
export const strandedEventsMax = 1_000_000;

export interface StrandedBatch {
  /** The group whose events they are (events/ids.ts `groupTag`). */
  readonly group: string;
  /** By event id: the entries not handed on yet. */
  readonly events: Map<string, KvEvent>;
  /** When the first of them was stranded (clock ms): a hand-off is given up after a while (handoff.ts). */
  readonly since: number;
}

/**
 * Writes a life of this node took that no reshard took with their keys (it was cut off from the
 * reshard and acknowledged them alone), waiting to be handed to the shard that owns their keys now
 * (src/shard/handoff.ts). One batch per group, oldest first.
 */
export class StrandedWrites {
  private readonly batches: StrandedBatch[] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Adds entries of `group`; returns how many were refused because the bound was reached. */
  add(group: string, events: readonly KvEvent[], now: number): number {
    let batch = this.batches.find((held) => held.group === group);
    if (batch === undefined) {
      batch = { group, events: new Map(), since: now };
      this.batches.push(batch);
    }
    let refused = 0;
    for (const event of events) {
      const id = eventId(event);
      if (batch.events.has(id)) continue;
      if (this.count >= strandedEventsMax) {
        refused++;
        continue;
      }
      batch.events.set(id, event);
      this.count++;
    }
    if (batch.events.size === 0) this.batches.splice(this.batches.indexOf(batch), 1);
    return refused;
  }

  /** The oldest batch, if any. */
  first(): StrandedBatch | undefined {
    return this.batches[0];
  }

  /** These events of `batch` are handed on (or given up): forgotten; an emptied batch goes. */
  remove(batch: StrandedBatch, events: readonly KvEvent[]): void {
    for (const event of events) if (batch.events.delete(eventId(event))) this.count--;
    const at = this.batches.indexOf(batch);
    if (batch.events.size === 0 && at >= 0) this.batches.splice(at, 1);
  }
}
