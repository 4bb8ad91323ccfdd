import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { KvEvent } from '../../events/kv-event.ts';
import type { VectorClock } from '../../events/vector-clock.ts';
import type { StoredSnapshot } from '../../src/node/storage.ts';
import { DurableLog, type DurableLogOptions, type OpenedLog } from '../../src/storage/durable-log.ts';
import { encodeBatch } from '../../src/storage/record-codec.ts';
import { segmentName, snapshotName } from '../../src/storage/segment-files.ts';
import { preallocationStepBytes } from '../../src/storage/segment-preallocation.ts';
import { DataDirLockedError } from '../../src/storage/storage-errors.ts';
import { callsOf, captureLog, deferred, faultyFs, flushed, origin, put, removeTempDirs, tempDir, until, type CapturedLog } from './durable-log-fixtures.ts';

let incarnations = 0;
const newIncarnation = () => `inc${++incarnations}`;

function options(captured: CapturedLog, more: Partial<DurableLogOptions> = {}): DurableLogOptions {
  return { fsync: 'batch', log: captured.log, incarnation: newIncarnation, retryMs: 10, ...more };
}

async function open(dir: string, more: Partial<DurableLogOptions> = {}, captured = captureLog()): Promise<OpenedLog> {
  return DurableLog.open(dir, options(captured, more));
}

function snapshotOf(events: readonly KvEvent[]): StoredSnapshot {
  const byKey = new Map<string, KvEvent>();
  let seq = 0;
  for (const event of events) {
    byKey.set(event.key, event);
    seq = Math.max(seq, event.seq);
  }
  return { clock: Object.freeze({ [origin]: seq }) as VectorClock, entries: [...byKey.values()], retired: { lives: ['x'] } };
}

/** Appends `events` in batches of `size`. */
function appendAll(storage: DurableLog, events: readonly KvEvent[], size = 1): void {
  for (let i = 0; i < events.length; i += size) storage.append(events.slice(i, i + size));
}

const range = (from: number, to: number, key = (seq: number) => `k${seq % 7}`) => Array.from({ length: to - from + 1 }, (_, i) => put(from + i, key(from + i)));

test.after(removeTempDirs);

test('round trip: batches appended, flushed, closed, reopened: the same events in order, the same incarnation', async () => {
  const dir = tempDir();
  const first = await open(dir);
  assert.is(first.incarnationSource, 'created');
  assert.equal(first.state, { snapshot: undefined, events: [] });
  const events = range(1, 40);
  appendAll(first.storage, events, 3);
  assert.is(await flushed(first.storage), undefined);
  await first.storage.close();
  assert.not.ok(existsSync(join(dir, 'LOCK')), 'close() removes the LOCK');

  const captured = captureLog();
  const second = await open(dir, {}, captured);
  assert.is(second.incarnation, first.incarnation);
  assert.is(second.incarnationSource, 'read');
  assert.equal(second.state.events, events);
  assert.is(second.state.snapshot, undefined);
  assert.equal([second.recovery.records, second.recovery.events, second.recovery.tornTail, second.recovery.damage], [14, 40, null, []]);
  const infos = captured.lines.filter((line) => line.level === 30);
  assert.is(infos.length, 1, 'one info line per recovery');
  assert.is(infos[0]!.event, 'storage-recovered');
  assert.is(infos[0]!.records, 14);
  assert.is(typeof infos[0]!.durationMs, 'number');
  await second.storage.close();
});

test('close() writes what is queued even without a flush', async () => {
  const dir = tempDir();
  const first = await open(dir, { fsync: 'off' });
  appendAll(first.storage, range(1, 5));
  await first.storage.close();
  const second = await open(dir);
  assert.equal(second.state.events, range(1, 5));
  first.storage.append([put(99, 'late')]);
  assert.is((await flushed(first.storage))?.message, 'storage is closed');
  await second.storage.close();
});

test('group commit: the flushes queued during one fdatasync are all answered by the next one', async () => {
  const dir = tempDir();
  const { fs, control } = faultyFs();
  const { storage } = await open(dir, { fs });
  const gate = deferred();
  control.hold = { op: 'datasync', gate };
  storage.append([put(1, 'a')]);
  const answers: Promise<Error | undefined>[] = [flushed(storage)];
  await until(() => callsOf(control, 'datasync', 'segment-') === 1, 5000, 'the first fdatasync');
  for (let seq = 2; seq <= 51; seq++) {
    storage.append([put(seq, 'a')]);
    answers.push(flushed(storage));
  }
  control.hold = undefined;
  gate.release();
  assert.equal(await Promise.all(answers), new Array(51).fill(undefined));
  assert.is(callsOf(control, 'datasync', 'segment-'), 2, 'one fdatasync for the first flush, one for the 50 queued behind it');
  const description = storage.describe();
  assert.is(description.fsyncs.count, 2);
  assert.is(description.fsyncs.counts.reduce((a, b) => a + b, 0), 2);
  assert.is(description.fsyncs.counts.length, description.fsyncs.boundsMs.length + 1);
  await storage.close();
});

test('FSYNC=off: flush is answered once write() returned, with no fdatasync', async () => {
  const dir = tempDir();
  const { fs, control } = faultyFs();
  const { storage } = await open(dir, { fs, fsync: 'off' });
  appendAll(storage, range(1, 20));
  assert.is(await flushed(storage), undefined);
  assert.ok(callsOf(control, 'write', 'segment-') >= 1);
  assert.is(callsOf(control, 'datasync', 'segment-'), 0);
  const expected = range(1, 20).reduce((n, event) => n + encodeBatch([event])[0]!.length, 0);
  assert.is(statSync(join(dir, segmentName(1))).size, expected);
  await storage.close();
});

test('FSYNC=batch grows a segment with zeros ahead of its records; after a crash they read as its clean end, and are cut', async () => {
  const dir = tempDir();
  const { storage } = await open(dir);
  const events = range(1, 30);
  appendAll(storage, events, 4);
  assert.is(await flushed(storage), undefined);
  const path = join(dir, segmentName(1));
  let records = 0;
  for (let i = 0; i < events.length; i += 4) records += encodeBatch(events.slice(i, i + 4))[0]!.length;
  assert.is(statSync(path).size, preallocationStepBytes, 'grown a step ahead');
  assert.is(storage.describe().diskBytes, preallocationStepBytes, 'describe() counts the file as it is on disk');
  // A crash now leaves the file as it is: copy the DATA_DIR while the log still has it open.
  const crashed = tempDir();
  cpSync(dir, crashed, { recursive: true });
  await storage.close();
  assert.is(statSync(path).size, records, 'close() cuts the zeros off');

  const captured = captureLog();
  const reopened = await open(crashed, {}, captured);
  assert.equal(reopened.state.events, events);
  assert.is(reopened.recovery.tornTail, null, 'zeros are not a torn record');
  assert.equal(reopened.recovery.damage, []);
  assert.is(reopened.incarnationSource, 'read');
  assert.is(statSync(join(crashed, segmentName(1))).size, records, 'recovery cuts the zeros off');
  assert.not.ok(captured.lines.some((line) => line.event === 'storage-torn-tail' || line.event === 'storage-damage'));
  await reopened.storage.close();
});

test('a rotated segment is cut back to its records; zeros at the end of an older segment are damage, not its end', async () => {
  const dir = tempDir();
  const { storage } = await open(dir, { segmentBytesMax: 8192 });
  const events = range(1, 120);
  for (const event of events) {
    storage.append([event]);
    assert.is(await flushed(storage), undefined);
  }
  const segments = readdirSync(dir).filter((name) => name.startsWith('segment-')).sort();
  assert.ok(segments.length >= 2, segments.join(' '));
  const first = readFileSync(join(dir, segments[0]!));
  assert.ok(first.length > 0 && first.length < 8192 && first.at(-1) !== 0, `${segments[0]} holds its records only (${first.length} bytes)`);
  await storage.close();
  writeFileSync(join(dir, segments[0]!), Buffer.concat([first, Buffer.alloc(100)]));
  const reopened = await open(dir);
  assert.equal(reopened.recovery.damage.map((d) => [d.file, d.offset]), [[segments[0], first.length]]);
  await reopened.storage.close();
});

test('a disk that cannot take the zeros a segment grows with: the records are written and acknowledged all the same', async () => {
  const dir = tempDir();
  const { fs, control } = faultyFs();
  let writes = 0;
  // The second write to the segment is the first batch's zeros: it fails half-way (a nearly full disk).
  control.fail = (op, file) => (op === 'write' && file.startsWith('segment-') && ++writes === 2 ? 'ENOSPC' : undefined);
  const { storage } = await open(dir, { fs });
  storage.append(range(1, 3));
  assert.is(await flushed(storage), undefined);
  storage.append(range(4, 6));
  assert.is(await flushed(storage), undefined);
  assert.is(storage.unavailable, undefined);
  const records = encodeBatch(range(1, 3))[0]!.length + encodeBatch(range(4, 6))[0]!.length;
  assert.is(statSync(join(dir, segmentName(1))).size, records, 'the partial zeros cut off, not tried again');
  assert.is(storage.describe().diskBytes, records);
  await storage.close();
  const reopened = await open(dir);
  assert.equal(reopened.state.events, range(1, 6));
  await reopened.storage.close();
});

test('a torn last record, cut at every byte offset: the records before come back, the file is cut, the report says torn', async () => {
  const dir = tempDir();
  const batches = [range(1, 2), range(3, 3), range(4, 6)];
  const first = await open(dir);
  for (const batch of batches) first.storage.append(batch);
  assert.is(await flushed(first.storage), undefined);
  await first.storage.close();
  const path = join(dir, segmentName(1));
  const whole = readFileSync(path);
  const lastLength = encodeBatch(batches[2]!).reduce((n, r) => n + r.length, 0);
  const lastStart = whole.length - lastLength;
  const before = [...batches[0]!, ...batches[1]!];
  for (let cut = lastStart; cut < whole.length; cut++) {
    writeFileSync(path, whole.subarray(0, cut));
    const reopened = await open(dir);
    assert.equal(reopened.state.events, before, `cut at ${cut}`);
    assert.is(statSync(path).size, lastStart, `file cut back at ${cut}`);
    assert.equal(reopened.recovery.damage, []);
    assert.is(reopened.incarnationSource, 'read', 'a torn tail keeps the incarnation');
    if (cut === lastStart) assert.is(reopened.recovery.tornTail, null);
    else assert.equal(reopened.recovery.tornTail, { file: segmentName(1), offset: lastStart, bytesCut: cut - lastStart });
    await reopened.storage.close();
  }
  // A whole last record with a bad CRC and nothing after it, or followed only by zeros, is torn too.
  for (const tail of [Buffer.alloc(0), Buffer.alloc(100)]) {
    const flipped = Buffer.concat([whole, tail]);
    flipped[whole.length - 3]! ^= 0x20;
    writeFileSync(path, flipped);
    const reopened = await open(dir);
    assert.equal(reopened.state.events, before);
    assert.is(reopened.recovery.tornTail?.offset, lastStart);
    assert.equal(reopened.recovery.damage, []);
    await reopened.storage.close();
  }
});

test('a damaged middle record: that segment from there is dropped (kept aside), later segments replayed, damage reported, a new incarnation', async () => {
  const dir = tempDir();
  const first = await open(dir);
  first.storage.append(range(1, 2));
  first.storage.append(range(3, 4));
  first.storage.append(range(5, 6));
  assert.is(await flushed(first.storage), undefined);
  await first.storage.close();
  const second = await open(dir); // a new segment per start
  second.storage.append(range(7, 8));
  assert.is(await flushed(second.storage), undefined);
  await second.storage.close();

  const path = join(dir, segmentName(1));
  const data = readFileSync(path);
  const secondRecord = encodeBatch(range(1, 2))[0]!.length;
  data[secondRecord + 12]! ^= 0x01;
  writeFileSync(path, data);
  const captured = captureLog();
  const third = await open(dir, {}, captured);
  assert.equal(third.state.events, [...range(1, 2), ...range(7, 8)]);
  assert.is(third.recovery.tornTail, null);
  assert.equal(
    third.recovery.damage.map((d) => [d.file, d.offset, d.reason]),
    [[segmentName(1), secondRecord, 'CRC-32C mismatch']],
  );
  assert.is(third.incarnationSource, 'replaced-after-damage');
  assert.is.not(third.incarnation, first.incarnation);
  assert.ok(captured.lines.some((line) => line.event === 'storage-damage' && line.file === segmentName(1) && line.offset === secondRecord));
  assert.is(statSync(path).size, secondRecord, 'the damaged suffix is cut off the segment');
  assert.ok(readFileSync(join(dir, `${segmentName(1)}.damaged-at-${secondRecord}`)).equals(data.subarray(secondRecord)), 'and kept aside');
  await third.storage.close();

  const fourth = await open(dir);
  assert.equal(fourth.recovery.damage, [], 'found once');
  assert.is(fourth.incarnation, third.incarnation, 'the new incarnation is the one kept');
  assert.equal(fourth.state.events, third.state.events);
  await fourth.storage.close();
});

test('any one flipped byte of the last segment: the records before it come back; in the last record it is torn, before that damage', async () => {
  const dir = tempDir();
  const batches = [range(1, 2), range(3, 3), range(4, 5)];
  const first = await open(dir);
  for (const batch of batches) first.storage.append(batch);
  assert.is(await flushed(first.storage), undefined);
  await first.storage.close();
  const path = join(dir, segmentName(1));
  const whole = readFileSync(path);
  const ends: number[] = [];
  for (const batch of batches) ends.push((ends.at(-1) ?? 0) + encodeBatch(batch)[0]!.length);
  for (let at = 0; at < whole.length; at++) {
    const damaged = Buffer.from(whole);
    damaged[at]! ^= 1 << at % 8;
    writeFileSync(path, damaged);
    const record = ends.findIndex((end) => at < end);
    const reopened = await open(dir);
    assert.equal(reopened.state.events, batches.slice(0, record).flat(), `byte ${at}`);
    if (record === batches.length - 1) {
      assert.is(reopened.recovery.tornTail?.offset, ends[record - 1], `byte ${at}: torn`);
      assert.equal(reopened.recovery.damage, []);
    } else {
      assert.is(reopened.recovery.tornTail, null, `byte ${at}: not torn`);
      assert.equal(reopened.recovery.damage.map((d) => d.offset), [record === 0 ? 0 : ends[record - 1]], `byte ${at}: damage`);
    }
    await reopened.storage.close();
  }
});

test('a record that passes its CRC but is not valid events is damage too, even last', async () => {
  const dir = tempDir();
  const first = await open(dir);
  first.storage.append(range(1, 1));
  assert.is(await flushed(first.storage), undefined);
  await first.storage.close();
  const { encodeRecord } = await import('../../src/storage/record-codec.ts');
  const path = join(dir, segmentName(1));
  writeFileSync(path, Buffer.concat([readFileSync(path), encodeRecord(JSON.stringify([{ ...put(2, 'k'), seq: 5 }]))]));
  const second = await open(dir);
  assert.equal(second.state.events, range(1, 1));
  assert.is(second.recovery.damage.length, 1);
  assert.match(second.recovery.damage[0]!.reason, /event 0 refused/);
  await second.storage.close();
});

test('snapshot: rotates, writes snapshot-<n>.json, deletes the segments it covers; recovery = snapshot + later segments', async () => {
  const dir = tempDir();
  const first = await open(dir, { segmentBytesMax: 4096 });
  const before = range(1, 200);
  appendAll(first.storage, before);
  assert.is(await flushed(first.storage), undefined);
  const segmentsBefore = readdirSync(dir).filter((name) => name.startsWith('segment-'));
  assert.ok(segmentsBefore.length > 3, `rotated past segmentBytesMax: ${segmentsBefore}`);
  const snapshot = snapshotOf(before);
  first.storage.snapshot(snapshot);
  const after = range(201, 230);
  appendAll(first.storage, after, 5);
  assert.is(await flushed(first.storage), undefined);
  const number = segmentsBefore.length + 1;
  const files = readdirSync(dir).sort();
  assert.equal(
    files.filter((name) => name.startsWith('segment-') || name.startsWith('snapshot-')),
    [segmentName(number), snapshotName(number)],
  );
  const description = first.storage.describe();
  assert.is(description.lastSnapshot?.number, number);
  assert.is(description.lastSnapshot?.bytes, statSync(join(dir, snapshotName(number))).size);
  assert.is(description.diskBytes, statSync(join(dir, snapshotName(number))).size + statSync(join(dir, segmentName(number))).size);
  assert.is(description.segments, 1);
  await first.storage.close();

  const second = await open(dir);
  assert.equal(second.state.snapshot, snapshot);
  assert.equal(second.state.events, after);
  assert.equal(second.recovery.snapshot, { file: snapshotName(number), entries: 7, bytes: statSync(join(dir, snapshotName(number))).size });
  assert.is(second.recovery.segmentsReplayed, 1);
  assert.is(typeof second.storage.describe().lastSnapshot?.agoMs, 'number');
  await second.storage.close();
});

test('a snapshot of nothing appended yet, and queued batches it covers, are handled', async () => {
  const dir = tempDir();
  const first = await open(dir);
  first.storage.snapshot({ clock: Object.freeze({}) as VectorClock, entries: [], retired: undefined });
  appendAll(first.storage, range(1, 3));
  const s = snapshotOf(range(1, 3));
  first.storage.snapshot(s); // the three batches, queued and not yet written, are in it
  assert.is(await flushed(first.storage), undefined);
  await first.storage.close();
  const second = await open(dir);
  assert.equal(second.state, { snapshot: { ...s, retired: { lives: ['x'] } }, events: [] });
  await second.storage.close();
});

test('a damaged newest snapshot falls back to an older one if kept, else to none; both are damage', async () => {
  const dir = tempDir();
  const first = await open(dir);
  appendAll(first.storage, range(1, 10));
  assert.is(await flushed(first.storage), undefined); // written, so the snapshot rotates to a new segment number
  const older = snapshotOf(range(1, 10));
  first.storage.snapshot(older);
  assert.is(await flushed(first.storage), undefined);
  const olderNumber = first.storage.describe().lastSnapshot!.number;
  const olderBytes = readFileSync(join(dir, snapshotName(olderNumber)));
  appendAll(first.storage, range(11, 20));
  assert.is(await flushed(first.storage), undefined);
  first.storage.snapshot(snapshotOf(range(1, 20)));
  appendAll(first.storage, range(21, 25));
  assert.is(await flushed(first.storage), undefined);
  const newerNumber = first.storage.describe().lastSnapshot!.number;
  await first.storage.close();
  assert.ok(newerNumber > olderNumber);
  assert.not.ok(existsSync(join(dir, snapshotName(olderNumber))), 'older snapshots are deleted');

  // A crash between writing the newer snapshot and deleting the older one, and then the newer one damaged.
  writeFileSync(join(dir, snapshotName(olderNumber)), olderBytes);
  const newerPath = join(dir, snapshotName(newerNumber));
  const newer = readFileSync(newerPath);
  newer[40]! ^= 0x04;
  writeFileSync(newerPath, newer);
  const second = await open(dir);
  assert.equal(second.state.snapshot, older);
  assert.equal(second.state.events, range(21, 25), 'the segments the damaged one covered are gone; later ones replay');
  assert.equal(
    second.recovery.damage.map((d) => [d.file, d.reason]),
    [[snapshotName(newerNumber), 'CRC-32C mismatch']],
  );
  assert.is(second.incarnationSource, 'replaced-after-damage');
  assert.ok(existsSync(`${newerPath}.damaged`));
  await second.storage.close();

  // The only snapshot damaged (cut short): none is used.
  const dir2 = tempDir();
  const third = await open(dir2);
  appendAll(third.storage, range(1, 5));
  third.storage.snapshot(snapshotOf(range(1, 5)));
  appendAll(third.storage, range(6, 8));
  assert.is(await flushed(third.storage), undefined);
  const onlyNumber = third.storage.describe().lastSnapshot!.number;
  await third.storage.close();
  truncateSync(join(dir2, snapshotName(onlyNumber)), 30);
  const fourth = await open(dir2);
  assert.is(fourth.state.snapshot, undefined);
  assert.equal(fourth.state.events, range(6, 8));
  assert.equal(fourth.recovery.damage.map((d) => d.reason), ['no trailer (file cut short)']);
  await fourth.storage.close();
});

test('wantsSnapshot(): once the bytes since the last snapshot exceed max(floor, 2 x its size)', async () => {
  const dir = tempDir();
  const { storage } = await open(dir, { snapshotBytesMin: 2000 });
  assert.not.ok(storage.wantsSnapshot());
  let seq = 0;
  while (storage.describe().bytesSinceSnapshot <= 2000) storage.append([put(++seq, 'k')]);
  assert.ok(storage.wantsSnapshot(), 'past the floor');
  const big = range(1, 60, (s) => `key-${s}`).map((e) => put(e.seq, e.key, 'v'.repeat(50)));
  storage.snapshot(snapshotOf(big));
  assert.not.ok(storage.wantsSnapshot(), 'not while one is being written');
  assert.is(await flushed(storage), undefined);
  const size = storage.describe().lastSnapshot!.bytes;
  assert.ok(size > 2000, `snapshot of ${size} bytes is above the floor`);
  while (storage.describe().bytesSinceSnapshot <= 2 * size) {
    assert.not.ok(storage.wantsSnapshot(), `at ${storage.describe().bytesSinceSnapshot} bytes`);
    storage.append([put(++seq, 'k')]);
  }
  assert.ok(storage.wantsSnapshot(), 'past twice the snapshot');
  await storage.close();
});

test('a second open of a DATA_DIR in use throws DataDirLockedError naming the dir and the pid', async () => {
  const dir = tempDir();
  const first = await open(dir);
  let thrown: unknown;
  try {
    await open(dir);
  } catch (error) {
    thrown = error;
  }
  assert.instance(thrown, DataDirLockedError);
  assert.ok((thrown as Error).message.includes(dir));
  assert.ok((thrown as Error).message.includes(String(process.pid)));
  assert.is((thrown as DataDirLockedError).pid, process.pid);
  await first.storage.close();
  const again = await open(dir);
  await again.storage.close();
});

test('a stale LOCK (its process is gone, or it names this pid but this process never took it) is taken over', async () => {
  const dir = tempDir();
  const child = spawnSync(process.execPath, ['-e', '0']);
  const deadPid = child.pid!;
  assert.throws(() => process.kill(deadPid, 0), /ESRCH/);
  writeFileSync(join(dir, 'LOCK'), `${deadPid}\n`);
  const captured = captureLog();
  const first = await open(dir, {}, captured);
  assert.ok(captured.lines.some((line) => line.event === 'storage-lock-stale' && line.stalePid === deadPid));
  assert.is(readFileSync(join(dir, 'LOCK'), 'utf8').trim(), String(process.pid));
  await first.storage.close();

  writeFileSync(join(dir, 'LOCK'), `${process.pid}\n`); // a restarted container's node often has its old pid
  const second = await open(dir);
  await second.storage.close();
});

test('disk full while writing: unavailable, flushes fail, appends kept; once space is back the retry writes all of it', async () => {
  const dir = tempDir();
  const { fs, control } = faultyFs();
  const captured = captureLog();
  const { storage } = await open(dir, { fs }, captured);
  storage.append(range(1, 3));
  assert.is(await flushed(storage), undefined);
  let full = true;
  control.fail = (op, file) => (full && op === 'write' && file.startsWith('segment-') ? 'ENOSPC' : undefined);
  storage.append(range(4, 6));
  const error = await flushed(storage);
  assert.is(error?.message, 'disk full (ENOSPC) writing segment-000001.log');
  assert.is(storage.unavailable, 'disk full (ENOSPC) writing segment-000001.log');
  assert.is((await flushed(storage))?.message, storage.unavailable, 'a flush while unavailable fails at once');
  storage.append(range(7, 9));
  await until(() => callsOf(control, 'write', 'segment-') >= 5, 5000, 'retries'); // the failed write, then retries that fail too
  assert.ok(storage.unavailable);
  full = false;
  await until(() => storage.unavailable === undefined, 5000, 'a retry to succeed');
  assert.is(await flushed(storage), undefined);
  assert.ok(captured.lines.some((line) => line.event === 'storage-unavailable'));
  assert.ok(captured.lines.some((line) => line.event === 'storage-available'));
  await storage.close();
  const reopened = await open(dir);
  assert.equal(reopened.state.events, range(1, 9), 'nothing lost, nothing torn (the half-written batch was written again in place)');
  assert.equal(reopened.recovery.tornTail, null);
  await reopened.storage.close();
});

test('EIO on fdatasync: unavailable, flushes fail; the retry writes the unsynced bytes again and fsyncs', async () => {
  const dir = tempDir();
  const { fs, control } = faultyFs();
  const { storage } = await open(dir, { fs });
  let broken = true;
  control.fail = (op, file) => (broken && op === 'datasync' && file.startsWith('segment-') ? 'EIO' : undefined);
  storage.append(range(1, 4));
  assert.is((await flushed(storage))?.message, 'I/O error (EIO) syncing segment-000001.log');
  assert.is(storage.unavailable, 'I/O error (EIO) syncing segment-000001.log');
  const writesBefore = callsOf(control, 'write', 'segment-');
  broken = false;
  await until(() => storage.unavailable === undefined, 5000, 'a retry to succeed');
  assert.ok(callsOf(control, 'write', 'segment-') > writesBefore, 'written again before the next fdatasync');
  storage.append(range(5, 5));
  assert.is(await flushed(storage), undefined);
  await storage.close();
  const reopened = await open(dir);
  assert.equal(reopened.state.events, range(1, 5));
  await reopened.storage.close();
});

test('queue full: batches stop being queued, unavailable, wantsSnapshot(); the next snapshot written whole makes it good again', async () => {
  const dir = tempDir();
  const { fs, control } = faultyFs();
  const { storage } = await open(dir, { fs, queueBytesMax: 8192 });
  const gate = deferred();
  control.hold = { op: 'write', gate }; // the disk stalls
  const events = range(1, 400);
  const answers: Promise<Error | undefined>[] = [];
  for (const event of events) {
    storage.append([event]);
    if (event.seq % 50 === 0) answers.push(flushed(storage));
  }
  assert.match(storage.unavailable ?? '', /^write queue full/);
  assert.ok(storage.wantsSnapshot());
  const snapshot = snapshotOf(events);
  storage.snapshot(snapshot);
  assert.not.ok(storage.wantsSnapshot());
  storage.append(range(401, 402));
  assert.ok((await flushed(storage))?.message.startsWith('write queue full'), 'nothing is acknowledged before the snapshot');
  control.hold = undefined;
  gate.release();
  await until(() => storage.unavailable === undefined, 5000, 'the snapshot');
  assert.is(await flushed(storage), undefined);
  assert.ok((await Promise.all(answers)).every((answer) => answer?.message.startsWith('write queue full')));
  await storage.close();
  const reopened = await open(dir);
  assert.equal(reopened.state.snapshot, snapshot);
  assert.equal(reopened.state.events, range(401, 402));
  assert.equal(reopened.recovery.damage, []);
  await reopened.storage.close();
});

test('disk use follows the live keys: 100,000 overwrites of 100 keys, snapshotting when asked, stay under a few MiB', async () => {
  const dir = tempDir();
  const { storage } = await open(dir, { segmentBytesMax: 1024 * 1024 });
  const live = new Map<string, KvEvent>();
  const onDisk = () => readdirSync(dir).reduce((sum, name) => sum + statSync(join(dir, name)).size, 0);
  let most = 0;
  let snapshots = 0;
  for (let seq = 1; seq <= 100_000; seq++) {
    const event = put(seq, `key-${seq % 100}`, { n: seq, text: 'some value of moderate length' });
    live.set(event.key, event);
    storage.append([event]);
    if (storage.wantsSnapshot()) {
      storage.snapshot({ clock: Object.freeze({ [origin]: seq }) as VectorClock, entries: [...live.values()], retired: undefined });
      snapshots++;
    }
    if (seq % 2000 === 0) {
      assert.is(await flushed(storage), undefined);
      most = Math.max(most, onDisk());
    }
  }
  assert.ok(snapshots >= 3, `${snapshots} snapshots`);
  assert.ok(most < 6 * 1024 * 1024, `at most ${most} bytes on disk`);
  await storage.close();
  const reopened = await open(dir);
  const state = new Map<string, KvEvent>();
  for (const event of [...(reopened.state.snapshot?.entries ?? []), ...reopened.state.events]) state.set(event.key, event);
  assert.equal(state, live);
  await reopened.storage.close();
});

test('describe() is plain JSON: dir, mode, bytes, segments, last snapshot, fsync histogram, unavailable, recovery', async () => {
  const dir = tempDir();
  const { storage } = await open(dir);
  storage.append(range(1, 3));
  assert.is(await flushed(storage), undefined);
  const description = storage.describe();
  assert.equal(JSON.parse(JSON.stringify(description)), description);
  assert.is(description.dir, dir);
  assert.is(description.fsync, 'batch');
  assert.is(description.segments, 1);
  assert.is(description.diskBytes, statSync(join(dir, segmentName(1))).size, 'the file as it is, zeros grown ahead included');
  assert.is(description.bytesSinceSnapshot, encodeBatch(range(1, 3))[0]!.length, 'the records only');
  assert.is(description.queuedBytes, 0);
  assert.is(description.lastSnapshot, null);
  assert.is(description.unavailable, null);
  assert.is(description.fsyncs.count, 1);
  assert.equal(description.fsyncs.boundsMs, [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 1000]);
  assert.is(description.recovery.events, 0);
  await storage.close();
});

test('leftover temporary files are removed at start; a meta.json not ours gives a new incarnation', async () => {
  const dir = tempDir();
  const first = await open(dir);
  await first.storage.close();
  writeFileSync(join(dir, 'snapshot-000009.json.tmp'), 'half a snapshot');
  copyFileSync(join(dir, 'meta.json'), join(dir, 'meta.json.tmp'));
  const second = await open(dir);
  assert.equal(readdirSync(dir).filter((name) => name.endsWith('.tmp')), []);
  assert.is(second.incarnation, first.incarnation);
  await second.storage.close();
  writeFileSync(join(dir, 'meta.json'), '{"something":"else"}');
  const third = await open(dir);
  assert.is(third.incarnationSource, 'created');
  assert.is.not(third.incarnation, first.incarnation);
  await third.storage.close();
});

test.run();
