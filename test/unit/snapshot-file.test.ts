import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { VectorClock } from '../../events/vector-clock.ts';
import type { StoredSnapshot } from '../../src/node/storage.ts';
import { crc32c } from '../../src/storage/crc32c.ts';
import { nodeFileSystem } from '../../src/storage/file-system.ts';
import { snapshotName } from '../../src/storage/segment-files.ts';
import { decodeSnapshot, prepareSnapshot, SnapshotDamage, writeSnapshotFile } from '../../src/storage/snapshot-file.ts';
import { del, origin, other, put, removeTempDirs, tempDir } from './durable-log-fixtures.ts';

const clockEntriesMax = 256;

test.after(removeTempDirs);

test('a snapshot reads back as written: clock, every entry in order, retired, maxPlace; several write chunks', async () => {
  const dir = tempDir();
  const entries = Array.from({ length: 3000 }, (_, i) => (i % 10 === 0 ? del(i + 1, `key-${i}`) : put(i + 1, `key-${i}`, { text: 'é'.repeat(200), n: i })));
  const snapshot: StoredSnapshot = { clock: Object.freeze({ [origin]: 3000, [other]: 7 }) as VectorClock, entries, retired: { lives: [1, 2] }, maxPlace: 3012 };
  const bytes = await writeSnapshotFile(nodeFileSystem, dir, 12, prepareSnapshot(snapshot));
  const data = readFileSync(join(dir, snapshotName(12)));
  assert.is(data.length, bytes);
  assert.ok(bytes > 1024 * 1024, 'more than one chunk');
  assert.equal(decodeSnapshot(data, clockEntriesMax), snapshot);
  const lines = data.toString('utf8').trimEnd().split('\n');
  assert.is(lines.length, entries.length + 2, 'header, one line per entry, trailer');
});

test('an empty snapshot, and one with no retired record', async () => {
  const dir = tempDir();
  const snapshot: StoredSnapshot = { clock: Object.freeze({}) as VectorClock, entries: [], retired: undefined };
  await writeSnapshotFile(nodeFileSystem, dir, 1, prepareSnapshot(snapshot));
  assert.equal(decodeSnapshot(readFileSync(join(dir, snapshotName(1))), clockEntriesMax), snapshot);
});

test('any one changed byte, or a cut anywhere, is refused as damage', async () => {
  const dir = tempDir();
  const snapshot: StoredSnapshot = { clock: Object.freeze({ [origin]: 3 }) as VectorClock, entries: [put(1, 'a'), put(2, 'b'), del(3, 'c')], retired: null };
  await writeSnapshotFile(nodeFileSystem, dir, 1, prepareSnapshot(snapshot));
  const data = readFileSync(join(dir, snapshotName(1)));
  for (let at = 0; at < data.length; at++) {
    const damaged = Buffer.from(data);
    damaged[at]! ^= 1 << at % 8;
    assert.throws(() => decodeSnapshot(damaged, clockEntriesMax), (error: unknown) => error instanceof SnapshotDamage, `byte ${at}`);
  }
  for (let cut = 0; cut < data.length; cut++) {
    assert.throws(() => decodeSnapshot(data.subarray(0, cut), clockEntriesMax), (error: unknown) => error instanceof SnapshotDamage, `cut at ${cut}`);
  }
});

/** A file with a correct trailer around `body` (header and entry lines). */
function withTrailer(body: string): Buffer {
  const bytes = Buffer.from(body);
  const trailer = `${JSON.stringify({ crc32c: crc32c(bytes).toString(16).padStart(8, '0'), bytes: bytes.length })}\n`;
  return Buffer.concat([bytes, Buffer.from(trailer)]);
}

test('a snapshot whose CRC holds but whose content is not one this log writes is refused too', () => {
  const header = (fields: object) => `${JSON.stringify({ format: 'causal-kvs-snapshot/1', clock: { [origin]: 1 }, entries: 1, ...fields })}\n`;
  const entry = `${JSON.stringify(put(1, 'a'))}\n`;
  assert.equal(decodeSnapshot(withTrailer(header({}) + entry), clockEntriesMax).entries, [put(1, 'a')]);
  const refused: [string, RegExp][] = [
    [header({ format: 'other' }) + entry, /header is not/],
    [header({ entries: 2 }) + entry, /1 entries where the header says 2/],
    [header({ entries: 0 }) + entry, /more entries than the 0/],
    [header({ clock: { nobody: 1 } }) + entry, /replica id/],
    [header({}) + `${JSON.stringify({ ...put(1, 'a'), seq: 2 })}\n`, /entry 0 refused: event clock must count the event itself/],
    [header({}) + '{"type":\n', /entry 0 is not JSON/],
  ];
  for (const [body, message] of refused) {
    assert.throws(() => decodeSnapshot(withTrailer(body), clockEntriesMax), (error: unknown) => error instanceof SnapshotDamage && message.test(error.message), String(message));
  }
});

test.run();
