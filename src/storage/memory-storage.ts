import type { Storage } from '../node/storage.ts';

/** No DATA_DIR: nothing is kept beyond memory, as the course's store does. */
export class MemoryStorage implements Storage {
  append(): void {}
  close(): void {}
}
