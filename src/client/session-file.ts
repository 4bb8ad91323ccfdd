// The CLI's session: the causal metadata of the last answer, kept in a small JSON file so that
// successive commands (separate processes) stay causally ordered. Written atomically (a temporary
// file in the same directory, then rename), so a reader never sees half a file.
import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

const metadataField = 'causal-metadata';

export class SessionFileError extends Error {
  override readonly name = 'SessionFileError';
}

/** The metadata kept in `file`; `null` (no dependencies) when the file does not exist yet. */
export async function readSession(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new SessionFileError(`cannot read session file ${file}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new SessionFileError(`session file ${file} is not JSON; delete it to start a new session`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || !(metadataField in parsed)) {
    throw new SessionFileError(`session file ${file} has no "${metadataField}"; delete it to start a new session`);
  }
  return (parsed as Record<string, unknown>)[metadataField] ?? null;
}

/** Replaces the session kept in `file` with `metadata`, atomically. */
export async function writeSession(file: string, metadata: unknown): Promise<void> {
  const temporary = join(dirname(file), `.${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const text = `${JSON.stringify({ [metadataField]: metadata ?? null, updatedAt: new Date().toISOString() }, null, 2)}\n`;
  try {
    await writeFile(temporary, text, { encoding: 'utf8', mode: 0o600 });
    await rename(temporary, file);
  } catch (error) {
    await rm(temporary, { force: true }).catch(() => undefined);
    throw new SessionFileError(`cannot write session file ${file}: ${(error as Error).message}`);
  }
}
