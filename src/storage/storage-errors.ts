/**
 * The durable log's errors. main.ts prints a DataDirLockedError and exits 2; a StorageIoError
 * carries the short reason the node shows as `storage unavailable: <reason>`.
 */

/** Another live process holds this DATA_DIR (its pid is in the LOCK file). */
export class DataDirLockedError extends Error {
  constructor(
    readonly dir: string,
    readonly pid: number,
  ) {
    super(`DATA_DIR ${dir} is in use by process ${pid} (see ${dir}/LOCK): stop that process or give this one another DATA_DIR`);
    this.name = 'DataDirLockedError';
  }
}

/** A file operation failed; `reason` names what failed, why, and on which file, e.g. `disk full (ENOSPC) writing segment-000003.log`. */
export class StorageIoError extends Error {
  constructor(
    readonly reason: string,
    readonly code: string | undefined,
    cause: unknown,
  ) {
    super(reason, { cause });
    this.name = 'StorageIoError';
  }
}

const plainWords: Readonly<Record<string, string>> = {
  ENOSPC: 'disk full',
  EDQUOT: 'disk quota exceeded',
  EIO: 'I/O error',
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
  ENOENT: 'missing',
  EEXIST: 'already exists',
  EFBIG: 'file too large',
};

/** The `code` of a Node system error, if it has one. */
export function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The short reason for a failed file operation: `disk full (ENOSPC) writing segment-000003.log`. */
export function describeIoFailure(error: unknown, action: string, file: string): string {
  const code = errorCode(error);
  if (code !== undefined) return `${plainWords[code] ?? 'error'} (${code}) ${action} ${file}`;
  return `${error instanceof Error ? error.message : String(error)} ${action} ${file}`;
}

/** `error` as a StorageIoError naming `action` and `file` (unchanged if it already is one). */
export function ioError(error: unknown, action: string, file: string): StorageIoError {
  return error instanceof StorageIoError ? error : new StorageIoError(describeIoFailure(error, action, file), errorCode(error), error);
}

/** Runs one file operation; a failure becomes a StorageIoError naming `action` and `file`. */
export async function attempt<T>(action: string, file: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw ioError(error, action, file);
  }
}
