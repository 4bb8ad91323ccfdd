import type { Storage } from '../node/storage.ts';

/** No DATA_DIR: nothing is kept beyond memory, as the course's store does; everything counts as stored at once. */
export class MemoryStorage implements Storage {
  readonly unavailable = undefined;
  append(): void {}
  flush(done: (error: Error | undefined) => void): void {
    done(undefined);
  }
  wantsSnapshot(): boolean {
    return false;
  }
  snapshot(): void {}
  close(): void {}
}
