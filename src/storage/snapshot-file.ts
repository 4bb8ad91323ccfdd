import { join } from 'node:path';
import type { KvEvent } from '../../events/kv-event.ts';
import { isPlainObject, parseClock, parseEvent } from '../../events/parse-event.ts';
import type { StoredSnapshot } from '../node/storage.ts';
import { crc32c } from './crc32c.ts';
import { removeFile, syncDirectory, writeFully, type FileSystem } from './file-system.ts';
import { snapshotName } from './segment-files.ts';
import { attempt } from './storage-errors.ts';

/**
 * A snapshot file is JSON lines, so that neither writing nor reading it ever holds the whole state
 * as one string (V8 strings stop near 512 MiB, and one JSON.stringify of a large state would block
 * the event loop):
 *
 *   {"format":"causal-kvs-snapshot/1","clock":{...},"entries":N,"retired":...,"maxPlace":P}
 *   {one entry: an event}            (N lines)
 *   {"crc32c":"e3069283","bytes":B}  the CRC-32C of the B bytes before this line
 *
 * The trailer comes last because the CRC is only known once everything before it is written; a
 * file without a valid trailer (a crash while writing, a damaged byte) is not a snapshot.
 */
const format = 'causal-kvs-snapshot/1';

/** How much JSON text is gathered before one write. */
const chunkChars = 1024 * 1024;

/** A snapshot as the writer keeps it until written: the small parts as text, the entries by reference. */
export interface PreparedSnapshot {
  readonly header: string;
  readonly entries: readonly KvEvent[];
}

/** Called when snapshot() is: copies the list of entries (events are immutable) so later changes to the caller's array do not matter. */
export function prepareSnapshot(snapshot: StoredSnapshot): PreparedSnapshot {
  const header = JSON.stringify({ format, clock: snapshot.clock, entries: snapshot.entries.length, retired: snapshot.retired, maxPlace: snapshot.maxPlace });
  return { header, entries: [...snapshot.entries] };
}

function* chunks(prepared: PreparedSnapshot): Generator<Buffer> {
  let text = `${prepared.header}\n`;
  for (const entry of prepared.entries) {
    text += `${JSON.stringify(entry)}\n`;
    if (text.length >= chunkChars) {
      yield Buffer.from(text);
      text = '';
    }
  }
  if (text.length > 0) yield Buffer.from(text);
}

/**
 * Writes `snapshot-<number>.json` the durable way: into a .tmp file, fsynced, renamed, the
 * directory fsynced. Always fsynced, whatever FSYNC says: a snapshot is rare, and once written the
 * segments it covers are deleted. Returns the file's size. Yields to the event loop between chunks.
 */
export async function writeSnapshotFile(fs: FileSystem, dir: string, number: number, prepared: PreparedSnapshot): Promise<number> {
  const name = snapshotName(number);
  const temp = join(dir, `${name}.tmp`);
  let bytes = 0;
  await attempt('writing', `${name}.tmp`, async () => {
    await removeFile(fs, temp);
    const handle = await fs.open(temp, 'wx');
    try {
      let crc = 0;
      for (const chunk of chunks(prepared)) {
        crc = crc32c(chunk, crc);
        await writeFully(handle, chunk, bytes);
        bytes += chunk.length;
      }
      const trailer = Buffer.from(`${JSON.stringify({ crc32c: crc.toString(16).padStart(8, '0'), bytes })}\n`);
      await writeFully(handle, trailer, bytes);
      bytes += trailer.length;
      await handle.sync();
    } finally {
      await handle.close();
    }
  });
  await attempt('renaming', `${name}.tmp`, () => fs.rename(temp, join(dir, name)));
  await syncDirectory(fs, dir);
  return bytes;
}

/** A snapshot file that is not one this log wrote whole. */
export class SnapshotDamage extends Error {}

/** Most entries a snapshot's own clock may have (it is the union of many events' clocks). */
const snapshotClockEntriesMax = 1_000_000;

/** The snapshot in a file's bytes, every entry re-validated; throws SnapshotDamage saying what is wrong. */
export function decodeSnapshot(data: Buffer, clockEntriesMax: number): StoredSnapshot {
  const newline = 0x0a;
  if (data.length === 0 || data[data.length - 1] !== newline) throw new SnapshotDamage('no trailer (file cut short)');
  const trailerStart = data.lastIndexOf(newline, data.length - 2) + 1;
  let trailer: unknown;
  try {
    trailer = JSON.parse(data.toString('utf8', trailerStart, data.length - 1));
  } catch {
    throw new SnapshotDamage('trailer is not JSON');
  }
  if (!isPlainObject(trailer) || trailer.bytes !== trailerStart || typeof trailer.crc32c !== 'string' || !/^[0-9a-f]{8}$/.test(trailer.crc32c)) {
    throw new SnapshotDamage('trailer does not describe the file');
  }
  if (crc32c(data, 0, 0, trailerStart) !== parseInt(trailer.crc32c, 16)) throw new SnapshotDamage('CRC-32C mismatch');

  let offset = 0;
  const nextLine = (): string | undefined => {
    if (offset >= trailerStart) return undefined;
    const end = data.indexOf(newline, offset);
    const line = data.toString('utf8', offset, end);
    offset = end + 1;
    return line;
  };
  const parseLine = (line: string, what: string): unknown => {
    try {
      return JSON.parse(line);
    } catch {
      throw new SnapshotDamage(`${what} is not JSON`);
    }
  };
  const header = parseLine(nextLine() ?? '', 'header');
  if (!isPlainObject(header) || header.format !== format) throw new SnapshotDamage(`header is not ${format}`);
  const count = header.entries;
  if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0) throw new SnapshotDamage('header has no entry count');
  let clock;
  try {
    clock = parseClock(header.clock, snapshotClockEntriesMax, 'snapshot clock');
  } catch (error) {
    throw new SnapshotDamage((error as Error).message);
  }
  const entries: KvEvent[] = [];
  for (let line = nextLine(); line !== undefined; line = nextLine()) {
    if (entries.length >= count) throw new SnapshotDamage(`more entries than the ${count} the header says`);
    try {
      entries.push(parseEvent(parseLine(line, `entry ${entries.length}`), clockEntriesMax));
    } catch (error) {
      throw error instanceof SnapshotDamage ? error : new SnapshotDamage(`entry ${entries.length} refused: ${(error as Error).message}`);
    }
  }
  if (entries.length !== count) throw new SnapshotDamage(`${entries.length} entries where the header says ${count}`);
  const maxPlace = header.maxPlace;
  if (maxPlace !== undefined && (typeof maxPlace !== 'number' || !Number.isSafeInteger(maxPlace) || maxPlace < 0)) throw new SnapshotDamage('header maxPlace is not an integer >= 0');
  return { clock, entries, retired: header.retired, ...(maxPlace === undefined ? {} : { maxPlace }) };
}
