import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../node/logger.ts';
import { removeFile, writeFully, type FileSystem } from './file-system.ts';
import { attempt, DataDirLockedError, errorCode, ioError } from './storage-errors.ts';

/**
 * One process per DATA_DIR: a `LOCK` file created exclusively (O_EXCL), holding the pid. A LOCK
 * whose pid is alive refuses the start (DataDirLockedError); one whose process is gone (killed,
 * crashed) is stale and taken over, with a log line. A LOCK naming this very process's pid is
 * ours only if this process took it: in a container the restarted node often gets the pid its
 * previous life had, and must not lock itself out.
 *
 * Limits: liveness is `kill(pid, 0)`, so two processes in different pid namespaces sharing a
 * DATA_DIR are not told apart, and a stale pid reused by an unrelated process refuses the start
 * until the LOCK is removed by hand (the error names the pid). Two processes taking over the same
 * stale LOCK at the same instant could both succeed; starts are not that close in practice.
 */
export interface DataDirLock {
  /** Removes the LOCK (best effort: a LOCK left behind is stale once this process exits). */
  release(): Promise<void>;
}

/** LOCK paths this process holds. */
const held = new Set<string>();

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errorCode(error) === 'EPERM';
  }
}

const attemptsMax = 4;
/** How long a LOCK with no pid yet (its creator is between open and write) is given to get one. */
const emptyLockWaitMs = 100;

export async function lockDataDir(fs: FileSystem, dir: string, log: Logger): Promise<DataDirLock> {
  const path = join(dir, 'LOCK');
  const key = resolve(path);
  const pid = process.pid;
  for (let tries = 1; tries <= attemptsMax; tries++) {
    let handle;
    try {
      handle = await fs.open(path, 'wx');
    } catch (error) {
      if (errorCode(error) !== 'EEXIST') throw ioError(error, 'creating', 'LOCK');
      let text: string;
      try {
        text = (await fs.readFile(path)).toString('utf8').trim();
      } catch (readError) {
        if (errorCode(readError) === 'ENOENT') continue; // released meanwhile: try again
        throw ioError(readError, 'reading', 'LOCK');
      }
      const holder = /^\d{1,10}$/.test(text) ? Number(text) : undefined;
      if (holder === undefined && text === '' && tries === 1) {
        await sleep(emptyLockWaitMs);
        continue;
      }
      if (holder !== undefined && (holder === pid ? held.has(key) : isAlive(holder))) throw new DataDirLockedError(dir, holder);
      log.warn({ event: 'storage-lock-stale', dir, stalePid: holder ?? null }, `taking over the LOCK of ${dir}: process ${holder ?? '(unknown)'} is gone`);
      await attempt('removing', 'stale LOCK', () => removeFile(fs, path));
      continue;
    }
    try {
      await attempt('writing', 'LOCK', async () => {
        try {
          await writeFully(handle, Buffer.from(`${pid}\n`), 0);
          await handle.datasync();
        } finally {
          await handle.close();
        }
      });
    } catch (error) {
      await removeFile(fs, path).catch(() => undefined); // a LOCK without a pid would only hold up the next start
      throw error;
    }
    held.add(key);
    let released = false;
    return {
      async release() {
        if (released) return;
        released = true;
        held.delete(key);
        try {
          await removeFile(fs, path);
        } catch (error) {
          log.warn({ event: 'storage-lock-release', dir, err: error }, 'could not remove LOCK; it is stale once this process exits');
        }
      },
    };
  }
  throw new Error(`could not take the LOCK of ${dir} after ${attemptsMax} tries (another process keeps creating it)`);
}
