import type { ReplicaId } from '../../events/ids.ts';
import { eventId, type KvEvent } from '../../events/kv-event.ts';
import type { QuiescedGroup } from '../../events/shard-messages.ts';

/** Most events held, over all batches: one life's entries each, a few lives at most. */
export const strandedEventsMax = 1_000_000;

export interface StrandedBatch {
  /** The group whose events they are (events/ids.ts `groupTag`). */
  readonly group: string;
  /** The life that held them: once it is over, its group's replication no longer carries them. */
  readonly life: ReplicaId;
  /**
   * Set while no clock of a reshard that quiesced `group` after the map of this epoch is known
   * (the map came without it): the events are every entry that may have been missed, to be cut
   * down to those the reshard did not take once the clock arrives (confirm), and only then sent.
   */
  awaitingClockAfter: number | undefined;
  /** The clock they were cut down with (sent with them: handoff.ts); none when the wait for it ran out. */
  quiesced: QuiescedGroup | undefined;
  /** By event id: the entries not handed on yet. */
  readonly events: Map<string, KvEvent>;
  /** When they were stranded (clock ms): a hand-off, or a wait for the clock, is given up after a while (handoff.ts). */
  readonly since: number;
}

/**
 * Writes a life of this node took that no reshard took with their keys (it was cut off from the
 * reshard and acknowledged them alone), waiting to be handed to the shard that owns their keys now
 * (src/shard/handoff.ts). One batch per stranding, oldest first.
 */
export class StrandedWrites {
  private readonly batches: StrandedBatch[] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  /**
   * Adds a batch of `group`'s entries held by `life` (awaiting a quiesced clock of a reshard after
   * epoch `awaitingClockAfter` when that is set); returns how many were refused because the bound was reached.
   */
  add(group: string, life: ReplicaId, events: readonly KvEvent[], now: number, cut: { quiesced: QuiescedGroup } | { awaitingClockAfter: number }): number {
    const batch: StrandedBatch = {
      group,
      life,
      awaitingClockAfter: 'awaitingClockAfter' in cut ? cut.awaitingClockAfter : undefined,
      quiesced: 'quiesced' in cut ? cut.quiesced : undefined,
      events: new Map(),
      since: now,
    };
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
    if (batch.events.size > 0) this.batches.push(batch);
    return refused;
  }

  /** The batches ready to be handed on (their clock known), oldest first. */
  ready(): StrandedBatch[] {
    return this.batches.filter((batch) => batch.awaitingClockAfter === undefined);
  }

  /** Every batch, oldest first. */
  all(): readonly StrandedBatch[] {
    return this.batches;
  }

  /**
   * `quiesced` is what a reshard took from `group`: each batch of it awaiting the clock of a
   * reshard after its map drops the events that reshard took (`took`), keeps the others, and is
   * ready. Returns how many were kept.
   */
  confirm(group: string, quiesced: QuiescedGroup, took: (event: KvEvent) => boolean): number {
    let kept = 0;
    for (const batch of [...this.batches]) {
      if (batch.group !== group || batch.awaitingClockAfter === undefined || quiesced.epoch <= batch.awaitingClockAfter) continue;
      this.remove(batch, [...batch.events.values()].filter(took));
      batch.awaitingClockAfter = undefined;
      batch.quiesced = quiesced;
      kept += batch.events.size;
    }
    return kept;
  }

  /** These events of `batch` are handed on (or given up): forgotten; an emptied batch goes. */
  remove(batch: StrandedBatch, events: readonly KvEvent[]): void {
    for (const event of events) if (batch.events.delete(eventId(event))) this.count--;
    const at = this.batches.indexOf(batch);
    if (batch.events.size === 0 && at >= 0) this.batches.splice(at, 1);
  }
}
