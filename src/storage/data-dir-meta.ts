import { join } from 'node:path';
import { parseIncarnation } from '../../events/ids.ts';
import { isPlainObject } from '../../events/parse-event.ts';
import type { Logger } from '../node/logger.ts';
import { writeFileDurably, type FileSystem } from './file-system.ts';
import { errorCode, ioError } from './storage-errors.ts';

/**
 * `meta.json`: the incarnation (replica life) this DATA_DIR belongs to. A node restarted from the
 * DATA_DIR carries on as that life: its events keep their identities and its sequence numbers
 * carry on from the recovered log. Written durably (temp file, fsync, rename, directory fsync).
 */
const format = 'causal-kvs-data-dir/1';
const name = 'meta.json';

export interface DataDirMeta {
  readonly incarnation: string;
  /** 'read': from meta.json; 'created': there was none (or it was unreadable) and `incarnation()` made one. */
  readonly source: 'read' | 'created';
}

export async function writeMeta(fs: FileSystem, dir: string, incarnation: string): Promise<void> {
  await writeFileDurably(fs, dir, name, Buffer.from(`${JSON.stringify({ format, incarnation })}\n`));
}

export async function readOrCreateMeta(fs: FileSystem, dir: string, incarnation: () => string, log: Logger): Promise<DataDirMeta> {
  let text: string | undefined;
  try {
    text = (await fs.readFile(join(dir, name))).toString('utf8');
  } catch (error) {
    if (errorCode(error) !== 'ENOENT') throw ioError(error, 'reading', name);
  }
  if (text !== undefined) {
    try {
      const meta: unknown = JSON.parse(text);
      if (isPlainObject(meta) && meta.format === format) return { incarnation: parseIncarnation(meta.incarnation), source: 'read' };
    } catch {
      // handled below
    }
    // A new incarnation is always safe: the events stored under the old one stay theirs.
    log.warn({ event: 'storage-meta-unreadable', dir }, `${name} is not one this store wrote: starting a new incarnation`);
  }
  const fresh = parseIncarnation(incarnation());
  await writeMeta(fs, dir, fresh);
  return { incarnation: fresh, source: 'created' };
}
