import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RecentlyFolded } from '../../src/core/recently-folded.ts';
import { id, put, del } from './support.ts';

const seqs = (events: Iterable<{ seq: number }>) => [...events].map((event) => event.seq);

test('nothing is kept while nobody reads the log', () => {
  const folded = new RecentlyFolded();
  assert.not.ok(folded.keeping(0));
  folded.add(put(0, 1, 'k', 1), 0);
  assert.is(folded.length, 0);
  folded.noteReader(0);
  assert.ok(folded.keeping(60_000));
  assert.not.ok(folded.keeping(60_001), 'a minute after the last read, folding keeps nothing again');
  folded.add(put(0, 2, 'k', 2), 60_001);
  assert.is(folded.length, 0);
});

test('a folded event stays readable for 5 seconds after it was folded, then goes', () => {
  const folded = new RecentlyFolded();
  folded.noteReader(0);
  folded.add(put(0, 1, 'k', 1), 100);
  folded.add(del(0, 2, 'k'), 2000);
  folded.add(put(1, 1, 'j', 'x'), 2000);
  assert.equal(seqs(folded.events(2000)), [1, 2, 1]);
  assert.equal(seqs(folded.events(2000, { origin: id(0) })), [1, 2]);
  assert.equal(seqs(folded.events(2000, { key: 'j' })), [1]);
  assert.equal(seqs(folded.events(5099)), [1, 2, 1]);
  assert.equal(seqs(folded.events(5100, { origin: id(0) })), [2], 'the first one was folded 5 s ago');
  assert.equal(seqs(folded.events(7000)), []);
  assert.is(folded.length, 0);
});

test('what is kept is bounded by count and by size, oldest first out', () => {
  const many = new RecentlyFolded();
  many.noteReader(0);
  for (let seq = 1; seq <= 20_050; seq++) many.add(put(0, seq, 'k', seq), 0);
  assert.is(many.length, 20_000);
  assert.is([...many.events(0)][0]!.seq, 51);

  const big = new RecentlyFolded();
  big.noteReader(0);
  const value = 'v'.repeat(1024 * 1024);
  for (let seq = 1; seq <= 40; seq++) big.add(put(0, seq, 'k', value), 0);
  assert.ok(big.length <= 32 && big.length >= 30, `${big.length} one-MiB values kept`);
  assert.is([...big.events(0)].at(-1)!.seq, 40, 'the newest are the ones kept');
});

test.run();
