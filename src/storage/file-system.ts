import { promises as fsp } from 'node:fs';
import { basename, join } from 'node:path';
import { attempt } from './storage-errors.ts';

/** The few operations of an open file the durable log uses (a subset of node:fs/promises FileHandle). */
export interface FileLike {
  write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesWritten: number }>;
  /** fdatasync(2): the data and the size, not the other metadata. */
  datasync(): Promise<void>;
  /** fsync(2); also what makes a directory's entries durable. */
  sync(): Promise<void>;
  truncate(length: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * The file system as the durable log sees it: node:fs/promises by default, replaceable so tests can
 * inject ENOSPC or EIO at an exact operation and count fdatasync calls.
 */
export interface FileSystem {
  mkdir(path: string): Promise<void>;
  readdir(path: string): Promise<string[]>;
  readFile(path: string): Promise<Buffer>;
  stat(path: string): Promise<{ readonly size: number; readonly mtimeMs: number }>;
  /** Flags as node:fs takes them: 'r', 'r+', 'w', 'wx'. */
  open(path: string, flags: string): Promise<FileLike>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
}

export const nodeFileSystem: FileSystem = {
  mkdir: async (path) => {
    await fsp.mkdir(path, { recursive: true });
  },
  readdir: (path) => fsp.readdir(path),
  readFile: (path) => fsp.readFile(path),
  stat: (path) => fsp.stat(path),
  open: (path, flags) => fsp.open(path, flags),
  rename: (from, to) => fsp.rename(from, to),
  unlink: (path) => fsp.unlink(path),
};

/** Writes all of `data` at `position`, continuing after short writes (each must make progress). */
export async function writeFully(file: FileLike, data: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await file.write(data, done, data.length - done, position + done);
    if (bytesWritten <= 0) throw Object.assign(new Error('write() wrote nothing'), { code: 'EIO' });
    done += bytesWritten;
  }
}

/** Makes the directory's entries (files created, renamed, removed) durable. */
export async function syncDirectory(fs: FileSystem, dir: string): Promise<void> {
  await attempt('syncing', 'the directory', async () => {
    const handle = await fs.open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  });
}

/**
 * Replaces `dir/name` with `data` atomically and durably: written to `name.tmp`, fsynced, renamed
 * over `name`, the directory fsynced. A crash leaves the old file or the new one, never a mix.
 */
export async function writeFileDurably(fs: FileSystem, dir: string, name: string, data: Uint8Array): Promise<void> {
  const path = join(dir, name);
  const temp = `${path}.tmp`;
  await attempt('writing', basename(temp), async () => {
    const handle = await fs.open(temp, 'w');
    try {
      await writeFully(handle, data, 0);
      await handle.sync();
    } finally {
      await handle.close();
    }
  });
  await attempt('renaming', basename(temp), () => fs.rename(temp, path));
  await syncDirectory(fs, dir);
}

/** unlink(), where a file already gone counts as removed. */
export async function removeFile(fs: FileSystem, path: string): Promise<void> {
  try {
    await fs.unlink(path);
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'ENOENT') throw error;
  }
}
