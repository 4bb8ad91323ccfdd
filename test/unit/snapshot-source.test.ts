import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Address } from '../../events/ids.ts';
import { snapshotChunkEntries, type SnapshotSource } from '../../src/core/snapshot-source.ts';
import { clock, put } from './support.ts';

function source(count: number): SnapshotSource {
  return {
    snapshotId: 'a-1',
    clock: clock({ 0: count }),
    view: ['10.0.0.1:8090' as Address],
    retired: {},
    maxPlace: count,
    entries: Array.from({ length: count }, (_, i) => put(0, i + 1, `k${i}`, i)),
  };
}

test('snapshotChunkEntries() cuts the entries into chunks of at most keysMax, the last one marked', () => {
  const s = source(7);
  const chunks = [0, 1, 2].map((index) => snapshotChunkEntries(s, index, 3));
  assert.equal(
    chunks.map((chunk) => chunk.entries.map((event) => event.key)),
    [['k0', 'k1', 'k2'], ['k3', 'k4', 'k5'], ['k6']],
  );
  assert.equal(
    chunks.map((chunk) => chunk.last),
    [false, false, true],
  );
});

test('snapshotChunkEntries() of an exact multiple ends on a full last chunk', () => {
  const s = source(6);
  assert.is(snapshotChunkEntries(s, 1, 3).last, true);
  assert.is(snapshotChunkEntries(s, 1, 3).entries.length, 3);
});

test('snapshotChunkEntries() of an empty snapshot is one empty last chunk', () => {
  const chunk = snapshotChunkEntries(source(0), 0, 3);
  assert.equal(chunk.entries, []);
  assert.is(chunk.last, true);
});

test('snapshotChunkEntries() past the end is empty and last', () => {
  const chunk = snapshotChunkEntries(source(2), 5, 3);
  assert.equal(chunk.entries, []);
  assert.is(chunk.last, true);
});

test.run();
