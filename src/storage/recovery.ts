import { join } from 'node:path';
import type { KvEvent } from '../../events/kv-event.ts';
import type { Logger } from '../node/logger.ts';
import type { StoredSnapshot, StoredState } from '../node/storage.ts';
import { removeFile, writeFully, type FileSystem } from './file-system.ts';
import { decodeBatch, readRecord, recordHeaderBytes, type RecordRead } from './record-codec.ts';
import { listDataDir, segmentName, snapshotName } from './segment-files.ts';
import { zeroTailAt } from './segment-preallocation.ts';
import { decodeSnapshot, SnapshotDamage } from './snapshot-file.ts';
import { attempt } from './storage-errors.ts';

/** Something recovery refused: never returned as data. */
export interface DamageFound {
  readonly file: string;
  /** Where in a segment the first refused record starts (null for a whole snapshot file). */
  readonly offset: number | null;
  readonly reason: string;
  /** Where the refused bytes were moved, so the next start does not find them again. */
  readonly keptAs: string;
}

/** What one recovery found; logged as one line, shown on /debug/state (plain JSON: null, never undefined). */
export interface RecoveryReport {
  readonly snapshot: { readonly file: string; readonly entries: number; readonly bytes: number } | null;
  readonly segmentsReplayed: number;
  readonly records: number;
  readonly events: number;
  /**
   * The last record of the last segment, cut short by a crash during its write (never acknowledged:
   * an acknowledged record was fsynced whole), cut off the file. Not damage.
   */
  readonly tornTail: { readonly file: string; readonly offset: number; readonly bytesCut: number } | null;
  /**
   * Records or snapshots refused anywhere else: what was acknowledged may be lost, so the node
   * must not carry on as the same incarnation (DurableLog.open() gives it a new one).
   */
  readonly damage: readonly DamageFound[];
  readonly durationMs: number;
}

export interface Recovered {
  readonly state: StoredState;
  readonly report: Omit<RecoveryReport, 'durationMs'>;
  /** Bytes of each segment kept (all numbered from the snapshot's number on), as they will be once quarantined. */
  readonly segmentBytes: Map<number, number>;
  readonly snapshot: { readonly number: number; readonly bytes: number } | undefined;
  /** The number of the next segment to write: above every file already there. */
  readonly nextSegment: number;
  /**
   * Moves damaged bytes aside (a damaged snapshot renamed, a damaged segment's suffix copied out and
   * cut off). Run only once the new incarnation is durable: a crash in between must find the damage again.
   */
  quarantine(): Promise<void>;
}

export interface RecoveryOptions {
  readonly clockEntriesMax: number;
  readonly log: Logger;
}

/** How many payload bytes the search for a record after a bad one may checksum before it gives up (and counts the bad one as damage). */
const searchCrcBytesMax = 256 * 1024 * 1024;

/**
 * Whether a record written whole starts anywhere in `data` after `from`. Cheap in practice: a
 * payload is JSON text, which holds no zero bytes, so almost no offset inside one reads as a
 * plausible length. Bounded by searchCrcBytesMax; past it, answers true (the cautious answer).
 */
function recordFollows(data: Buffer, from: number): boolean {
  let budget = searchCrcBytesMax;
  for (let at = from + 1; at + recordHeaderBytes < data.length; at++) {
    const length = data.readUInt32LE(at);
    if (length === 0 || length > data.length - at - recordHeaderBytes) continue;
    budget -= length;
    if (budget < 0) return true;
    if (readRecord(data, at).kind === 'record') return true;
  }
  return false;
}

/**
 * A record that cannot be read, in the last segment holding any bytes, is a torn write when no
 * record written whole follows it: its header or payload runs past the end, or its CRC fails, and
 * after it there is nothing, or zeros, or scraps. When a whole record does follow (a damaged length
 * field, a flipped byte), it is damage: what follows may have been acknowledged.
 */
function isTorn(data: Buffer, offset: number): boolean {
  return !recordFollows(data, offset);
}

function reasonOf(read: Exclude<RecordRead, { kind: 'record' | 'end' }>): string {
  if (read.kind === 'incomplete') return 'record runs past the end of the segment';
  if (read.kind === 'bad-length') return `record length ${read.length} is not one this log writes`;
  return 'CRC-32C mismatch';
}

/**
 * Reads a DATA_DIR back: the newest snapshot whose CRC holds (a damaged one is reported and the next
 * older is tried), then every segment it does not cover, in order. A torn tail (see isTorn) is cut
 * off at once; damage is reported, and its segment's suffix from the damaged record on is dropped
 * (later segments are still replayed: causal delivery holds what cannot be delivered until peers
 * send it again), to be moved aside by quarantine().
 * Leftover temporary files, and segments and snapshots the chosen snapshot covers, are removed.
 * Bounded: every loop runs over the files listed or the bytes read. I/O errors throw.
 */
export async function recover(fs: FileSystem, dir: string, options: RecoveryOptions): Promise<Recovered> {
  const { clockEntriesMax, log } = options;
  const listing = listDataDir(await attempt('listing', dir, () => fs.readdir(dir)));
  for (const name of listing.temporary) await attempt('removing', name, () => removeFile(fs, join(dir, name)));

  const damage: DamageFound[] = [];
  const quarantines: (() => Promise<void>)[] = [];

  let snapshot: { number: number; bytes: number; content: StoredSnapshot } | undefined;
  for (const number of listing.snapshots) {
    const name = snapshotName(number);
    const data = await attempt('reading', name, () => fs.readFile(join(dir, name)));
    try {
      snapshot = { number, bytes: data.length, content: decodeSnapshot(data, clockEntriesMax) };
      break;
    } catch (error) {
      if (!(error instanceof SnapshotDamage)) throw error;
      const keptAs = `${name}.damaged`;
      damage.push({ file: name, offset: null, reason: error.message, keptAs });
      log.warn({ event: 'storage-damage', file: name, reason: error.message }, `snapshot ${name} is damaged (${error.message}): not used`);
      quarantines.push(() => attempt('renaming', name, () => fs.rename(join(dir, name), join(dir, keptAs))));
    }
  }
  const covered = snapshot?.number ?? 0;
  for (const number of listing.snapshots) {
    if (number < covered) await attempt('removing', snapshotName(number), () => removeFile(fs, join(dir, snapshotName(number))));
  }
  for (const number of listing.segments) {
    if (number < covered) await attempt('removing', segmentName(number), () => removeFile(fs, join(dir, segmentName(number))));
  }

  const live = listing.segments.filter((n) => n >= covered);
  const sizes: number[] = [];
  for (const number of live) sizes.push((await attempt('reading', segmentName(number), () => fs.stat(join(dir, segmentName(number))))).size);
  let lastWithBytes = -1;
  sizes.forEach((size, index) => {
    if (size > 0) lastWithBytes = index;
  });

  const events: KvEvent[] = [];
  const segmentBytes = new Map<number, number>();
  let records = 0;
  let tornTail: RecoveryReport['tornTail'] = null;
  for (const [index, number] of live.entries()) {
    const name = segmentName(number);
    const path = join(dir, name);
    const data = sizes[index] === 0 ? Buffer.alloc(0) : await attempt('reading', name, () => fs.readFile(path));
    let offset = 0;
    let kept = data.length;
    while (offset < data.length) {
      const read = readRecord(data, offset);
      if (read.kind === 'end') break;
      if (read.kind === 'record') {
        let batch: KvEvent[];
        try {
          batch = decodeBatch(read.payload, clockEntriesMax);
        } catch (error) {
          kept = offset;
          const reason = (error as Error).message;
          const keptAs = `${name}.damaged-at-${offset}`;
          damage.push({ file: name, offset, reason, keptAs });
          log.warn({ event: 'storage-damage', file: name, offset, reason }, `damaged record in ${name} at ${offset} (${reason}): the rest of the segment is dropped`);
          quarantines.push(quarantineSuffix(fs, dir, name, data, offset, keptAs));
          break;
        }
        for (const event of batch) events.push(event);
        records++;
        offset = read.end;
        continue;
      }
      kept = offset;
      if (index === lastWithBytes && zeroTailAt(data, offset)) {
        // The zeros the newest segment is grown with, ahead of its records (segment-preallocation.ts): the clean
        // end, not a torn record (an older segment was cut back before the next one was made: zeros there are
        // damage). Cut off so the file's size is its records again.
        await cutOff(fs, path, name, offset);
      } else if (index === lastWithBytes && isTorn(data, offset)) {
        tornTail = { file: name, offset, bytesCut: data.length - offset };
        log.warn({ event: 'storage-torn-tail', file: name, offset, bytesCut: data.length - offset }, `torn last record in ${name} at ${offset}: cut off`);
        await cutOff(fs, path, name, offset);
      } else {
        const reason = reasonOf(read);
        const keptAs = `${name}.damaged-at-${offset}`;
        damage.push({ file: name, offset, reason, keptAs });
        log.warn({ event: 'storage-damage', file: name, offset, reason }, `damaged record in ${name} at ${offset} (${reason}): the rest of the segment is dropped`);
        quarantines.push(quarantineSuffix(fs, dir, name, data, offset, keptAs));
      }
      break;
    }
    segmentBytes.set(number, kept);
  }

  let highest = Math.max(covered, 1);
  for (const n of listing.segments) highest = Math.max(highest, n + 1);
  for (const n of listing.snapshots) highest = Math.max(highest, n);
  return {
    state: { snapshot: snapshot?.content, events },
    report: {
      snapshot: snapshot ? { file: snapshotName(snapshot.number), entries: snapshot.content.entries.length, bytes: snapshot.bytes } : null,
      segmentsReplayed: live.length,
      records,
      events: events.length,
      tornTail,
      damage,
    },
    segmentBytes,
    snapshot: snapshot && { number: snapshot.number, bytes: snapshot.bytes },
    nextSegment: highest,
    async quarantine() {
      for (const run of quarantines) await run();
    },
  };
}

/** Copies a damaged segment's suffix to `keptAs` (fsynced), then cuts it off the segment. */
function quarantineSuffix(fs: FileSystem, dir: string, name: string, data: Buffer, offset: number, keptAs: string): () => Promise<void> {
  return async () => {
    await attempt('writing', keptAs, async () => {
      const handle = await fs.open(join(dir, keptAs), 'w');
      try {
        await writeFully(handle, data.subarray(offset), 0);
        await handle.datasync();
      } finally {
        await handle.close();
      }
    });
    await cutOff(fs, join(dir, name), name, offset);
  };
}

/** Cuts the file at `path` (named `name` in errors) back to `offset` bytes, durably. */
async function cutOff(fs: FileSystem, path: string, name: string, offset: number): Promise<void> {
  await attempt('truncating', name, async () => {
    const handle = await fs.open(path, 'r+');
    try {
      await handle.truncate(offset);
      await handle.datasync();
    } finally {
      await handle.close();
    }
  });
}
