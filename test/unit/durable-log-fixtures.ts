// Shared by the durable log's suites: temp dirs (always removed), a captured logger, events, and a
// file system that counts calls and fails on demand (ENOSPC, EIO) or holds an operation in flight.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import pino from 'pino';
import { replicaId, type Address } from '../../events/ids.ts';
import type { KvEvent } from '../../events/kv-event.ts';
import type { VectorClock } from '../../events/vector-clock.ts';
import type { Logger } from '../../src/node/logger.ts';
import type { Storage } from '../../src/node/storage.ts';
import { nodeFileSystem, type FileLike, type FileSystem } from '../../src/storage/file-system.ts';

const made: string[] = [];

/** A fresh directory under os.tmpdir(); removeTempDirs() removes every one made. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'kvs-durable-log-'));
  made.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export interface CapturedLog {
  readonly log: Logger;
  readonly lines: Record<string, unknown>[];
}

export function captureLog(): CapturedLog {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { log, lines };
}

export const origin = replicaId('10.0.0.1:8090' as Address, 'a');
export const other = replicaId('10.0.0.2:8090' as Address, 'b');

/** A put by `origin` with sequence number `seq`. */
export function put(seq: number, key: string, value: unknown = `value-${seq}`): KvEvent {
  const clock = Object.freeze({ [origin]: seq }) as VectorClock;
  return Object.freeze({ type: 'put', origin, seq, key, value: value as never, clock });
}

export function del(seq: number, key: string): KvEvent {
  const clock = Object.freeze({ [origin]: seq }) as VectorClock;
  return Object.freeze({ type: 'delete', origin, seq, key, clock });
}

/** Resolves with flush()'s answer. */
export function flushed(storage: Storage): Promise<Error | undefined> {
  return new Promise((resolve) => storage.flush(resolve));
}

/** Waits (polling, bounded) until `condition()` holds; throws after `timeoutMs`. */
export async function until(condition: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

export interface Deferred {
  readonly promise: Promise<void>;
  release(): void;
}

export function deferred(): Deferred {
  let release!: () => void;
  const promise = new Promise<void>((resolve) => (release = resolve));
  return { promise, release };
}

export type FaultyOp = 'write' | 'datasync' | 'sync' | 'open' | 'rename' | 'unlink' | 'truncate';

export interface FaultControl {
  /** An errno code to fail this call with (file is the base name), or undefined to let it through. */
  fail: ((op: FaultyOp, file: string) => string | undefined) | undefined;
  /** While set, each call of `op` waits for it first (after being counted). */
  hold: { op: FaultyOp; gate: Deferred } | undefined;
  /** Every call, in order. */
  readonly calls: { op: FaultyOp; file: string }[];
}

function fsError(code: string, op: string, file: string): Error {
  return Object.assign(new Error(`${code}: injected, ${op} '${file}'`), { code });
}

/** node:fs/promises, counted, with faults injected as `control` says. A failing write first really writes half its bytes (a short write). */
export function faultyFs(): { fs: FileSystem; control: FaultControl } {
  const control: FaultControl = { fail: undefined, hold: undefined, calls: [] };
  const gate = async (op: FaultyOp, file: string): Promise<void> => {
    control.calls.push({ op, file });
    if (control.hold?.op === op) await control.hold.gate.promise;
    const code = control.fail?.(op, file);
    if (code !== undefined) throw fsError(code, op, file);
  };
  const wrap = (handle: FileLike, file: string): FileLike => ({
    async write(buffer, offset, length, position) {
      control.calls.push({ op: 'write', file });
      if (control.hold?.op === 'write') await control.hold.gate.promise;
      const code = control.fail?.('write', file);
      if (code !== undefined) {
        const half = Math.floor(length / 2);
        if (half > 0) await handle.write(buffer, offset, half, position);
        throw fsError(code, 'write', file);
      }
      return handle.write(buffer, offset, length, position);
    },
    async datasync() {
      await gate('datasync', file);
      return handle.datasync();
    },
    async sync() {
      await gate('sync', file);
      return handle.sync();
    },
    async truncate(length) {
      await gate('truncate', file);
      return handle.truncate(length);
    },
    close: () => handle.close(),
  });
  const fs: FileSystem = {
    ...nodeFileSystem,
    async open(path, flags) {
      await gate('open', basename(path));
      return wrap(await nodeFileSystem.open(path, flags), basename(path));
    },
    async rename(from, to) {
      await gate('rename', basename(from));
      return nodeFileSystem.rename(from, to);
    },
    async unlink(path) {
      await gate('unlink', basename(path));
      return nodeFileSystem.unlink(path);
    },
  };
  return { fs, control };
}

/** How many times `op` was called on files whose name starts with `prefix`. */
export function callsOf(control: FaultControl, op: FaultyOp, prefix: string): number {
  return control.calls.filter((call) => call.op === op && call.file.startsWith(prefix)).length;
}
