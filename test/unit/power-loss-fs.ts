// An in-memory FileSystem (src/storage/file-system.ts) that models what survives a power loss: a
// file's bytes only once fdatasync'ed or fsync'ed (a failed fdatasync drops the dirty ranges, as
// Linux marks the failed pages clean), directory entries only once the directory is fsync'ed.
// Faults are injected by `fail`. Used by durable-log-power-loss.test.ts.
import { basename } from 'node:path';
import type { FileLike, FileSystem } from '../../src/storage/file-system.ts';

interface Inode {
  vol: Buffer;
  dur: Buffer;
  /** Byte ranges written since the last datasync (their durable copy is stale). */
  dirty: [number, number][];
  sizeDirty: boolean;
}

export type MemOp = 'write' | 'datasync' | 'sync' | 'open' | 'rename' | 'unlink' | 'truncate' | 'dirsync';

export class MemFs {
  /** Volatile directory (what a process sees) and durable directory (what a power loss leaves). */
  vol = new Map<string, Inode>();
  dur = new Map<string, Inode>();
  fail: ((op: MemOp, file: string) => string | undefined) | undefined;
  readonly dirName: string;

  constructor(dirName: string) {
    this.dirName = dirName;
  }

  private err(code: string, op: string, file: string): Error {
    return Object.assign(new Error(`${code}: injected ${op} ${file}`), { code });
  }

  private check(op: MemOp, file: string): void {
    const code = this.fail?.(op, file);
    if (code !== undefined) throw this.err(code, op, file);
  }

  /** What a power loss leaves: a new MemFs of the durable state. */
  powerLoss(random?: () => number): MemFs {
    if (random !== undefined) {
      // Some of the pages written but not synced reach the disk anyway (writeback), in any order.
      for (const inode of new Set(this.vol.values())) {
        for (const [from, to] of inode.dirty) {
          for (let page = Math.floor(from / 4096) * 4096; page < to; page += 4096) {
            if (random() < 0.5) continue;
            const a = Math.max(page, from);
            const b = Math.min(page + 4096, to, inode.vol.length);
            if (b <= a) continue;
            if (inode.dur.length < b) {
              const grown = Buffer.alloc(b);
              inode.dur.copy(grown);
              inode.dur = grown;
            }
            inode.vol.copy(inode.dur, a, a, b);
          }
        }
      }
    }
    const next = new MemFs(this.dirName);
    const seen = new Map<Inode, Inode>();
    for (const [name, inode] of this.dur) {
      let copy = seen.get(inode);
      if (copy === undefined) {
        copy = { vol: Buffer.from(inode.dur), dur: Buffer.from(inode.dur), dirty: [], sizeDirty: false };
        seen.set(inode, copy);
      }
      next.vol.set(name, copy);
      next.dur.set(name, copy);
    }
    return next;
  }

  /** What a kill -9 leaves: everything the process handed over (fully durable from here on, for simplicity). */
  processCrash(): MemFs {
    const next = new MemFs(this.dirName);
    for (const [name, inode] of this.vol) {
      const copy = { vol: Buffer.from(inode.vol), dur: Buffer.from(inode.vol), dirty: [], sizeDirty: false };
      next.vol.set(name, copy);
      next.dur.set(name, copy);
    }
    return next;
  }

  get fs(): FileSystem {
    const self = this;
    const name = (path: string) => basename(path);
    const isDir = (path: string) => path === self.dirName;
    const handleOf = (inode: Inode, file: string): FileLike => ({
      async write(buffer, offset, length, position) {
        self.check('write', file);
        const end = position + length;
        if (inode.vol.length < end) {
          const grown = Buffer.alloc(end);
          inode.vol.copy(grown);
          inode.vol = grown;
          inode.sizeDirty = true;
        }
        Buffer.from(buffer.buffer, buffer.byteOffset + offset, length).copy(inode.vol, position);
        inode.dirty.push([position, end]);
        return { bytesWritten: length };
      },
      async datasync() {
        try {
          self.check('datasync', file);
        } catch (error) {
          // Linux: the pages that failed are marked clean; a later fsync does not write them.
          inode.dirty = [];
          throw error;
        }
        const dur = Buffer.alloc(inode.vol.length);
        inode.dur.copy(dur, 0, 0, Math.min(inode.dur.length, dur.length));
        for (const [from, to] of inode.dirty) inode.vol.copy(dur, from, from, Math.min(to, inode.vol.length));
        // Bytes beyond the old durable size that no dirty range covered read as zeros (holes), as on disk.
        inode.dur = dur;
        inode.dirty = [];
        inode.sizeDirty = false;
      },
      async sync() {
        await this.datasync();
      },
      async truncate(length) {
        self.check('truncate', file);
        const next = Buffer.alloc(length);
        inode.vol.copy(next, 0, 0, Math.min(length, inode.vol.length));
        inode.vol = next;
        inode.sizeDirty = true;
        inode.dirty = inode.dirty.map(([a, b]) => [a, Math.min(b, length)] as [number, number]).filter(([a, b]) => a < b);
      },
      async close() {},
    });
    return {
      async mkdir() {},
      async readdir() {
        return [...self.vol.keys()];
      },
      async readFile(path) {
        const inode = self.vol.get(name(path));
        if (inode === undefined) throw self.err('ENOENT', 'read', name(path));
        return Buffer.from(inode.vol);
      },
      async stat(path) {
        const inode = self.vol.get(name(path));
        if (inode === undefined) throw self.err('ENOENT', 'stat', name(path));
        return { size: inode.vol.length, mtimeMs: 0 };
      },
      async open(path, flags) {
        if (isDir(path)) {
          return {
            write: async () => ({ bytesWritten: 0 }),
            datasync: async () => {},
            async sync() {
              self.check('dirsync', 'dir');
              self.dur = new Map(self.vol);
            },
            truncate: async () => {},
            close: async () => {},
          };
        }
        const file = name(path);
        self.check('open', file);
        let inode = self.vol.get(file);
        if (flags === 'wx' && inode !== undefined) throw self.err('EEXIST', 'open', file);
        if (flags === 'r+' || flags === 'r') {
          if (inode === undefined) throw self.err('ENOENT', 'open', file);
        } else if (inode === undefined) {
          inode = { vol: Buffer.alloc(0), dur: Buffer.alloc(0), dirty: [], sizeDirty: false };
          self.vol.set(file, inode);
        } else if (flags === 'w') {
          inode.vol = Buffer.alloc(0);
          inode.sizeDirty = true;
          inode.dirty = [];
        }
        return handleOf(inode, file);
      },
      async rename(from, to) {
        self.check('rename', name(from));
        const inode = self.vol.get(name(from));
        if (inode === undefined) throw self.err('ENOENT', 'rename', name(from));
        self.vol.delete(name(from));
        self.vol.set(name(to), inode);
      },
      async unlink(path) {
        self.check('unlink', name(path));
        if (!self.vol.delete(name(path))) throw self.err('ENOENT', 'unlink', name(path));
      },
    };
  }
}
