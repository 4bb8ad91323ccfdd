// The simulated DATA_DIR: what a replica address keeps across its lives. Appends reach the "disk"
// at once but only count once flushed (an fsync of a few virtual ms); a crash loses what was not
// flushed, as a power loss would with FSYNC=batch. Snapshots replace what they cover.
import type { KvEvent } from '../../events/kv-event.ts';
import type { Storage, StoredSnapshot, StoredState } from '../../src/node/storage.ts';
import type { Random } from '../support/random.ts';

/** What an address's disk holds between lives. */
export class SimDisk {
  incarnation: string | undefined;
  private snapshotTaken: StoredSnapshot | undefined;
  private events: KvEvent[] = [];
  /** Events up to this index are on disk; the rest die with the process. */
  private synced = 0;
  /** Grows with every snapshot: a flush asked for before one counts in the events it replaced. */
  private snapshots = 0;
  fsyncs = 0;

  /** What a new life finds: the last snapshot and the synced events after it. */
  recover(): StoredState {
    this.events.length = this.synced;
    return { snapshot: this.snapshotTaken, events: [...this.events] };
  }

  /** A storage for one life; `alive()` turns false when it ends, and with it every flush in flight. */
  storageFor(schedule: (delayMs: number, run: () => void) => void, random: Random, alive: () => boolean): Storage {
    const disk = this;
    let appendedSinceSnapshot = 0;
    return {
      unavailable: undefined,
      append(events) {
        if (!alive()) return;
        for (const event of events) disk.events.push(event);
        appendedSinceSnapshot += events.length;
      },
      flush(done) {
        const upTo = disk.events.length;
        const snapshots = disk.snapshots;
        schedule(random.int(1, 5), () => {
          if (!alive()) return;
          disk.fsyncs++;
          // After a snapshot, what this flush covered is in the snapshot (synced as it was written).
          if (snapshots === disk.snapshots) disk.synced = Math.max(disk.synced, upTo);
          done(undefined);
        });
      },
      wantsSnapshot: () => appendedSinceSnapshot > 200,
      snapshot(snapshot) {
        if (!alive()) return;
        // Written whole and synced before the events it covers go (rename, then delete).
        disk.snapshotTaken = snapshot;
        disk.events = [];
        disk.synced = 0;
        disk.snapshots++;
        appendedSinceSnapshot = 0;
      },
      close() {},
    };
  }
}
