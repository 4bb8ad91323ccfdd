import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { crc32c } from '../../src/storage/crc32c.ts';
import { decodeBatch, encodeBatch, encodeRecord, readRecord, recordHeaderBytes } from '../../src/storage/record-codec.ts';
import { del, put } from './durable-log-fixtures.ts';

const clockEntriesMax = 256;

test('a record is [u32 LE length][u32 LE CRC-32C of the payload][payload]', () => {
  const json = '[{"é":1}]';
  const record = encodeRecord(json);
  const payload = Buffer.from(json);
  assert.is(record.length, recordHeaderBytes + payload.length);
  assert.is(record.readUInt32LE(0), payload.length);
  assert.is(record.readUInt32LE(4), crc32c(payload));
  assert.ok(record.subarray(recordHeaderBytes).equals(payload));
});

test('records read back one after another, then the end', () => {
  const events = [put(1, 'a'), del(2, 'b'), put(3, 'c', { nested: [1, 'two', null, true] })];
  const data = Buffer.concat([...encodeBatch(events.slice(0, 2)), ...encodeBatch(events.slice(2))]);
  const read: unknown[] = [];
  let offset = 0;
  for (let guard = 0; guard < 10; guard++) {
    const result = readRecord(data, offset);
    if (result.kind === 'end') break;
    assert.is(result.kind, 'record');
    if (result.kind !== 'record') return;
    read.push(...decodeBatch(result.payload, clockEntriesMax));
    offset = result.end;
  }
  assert.equal(read, events);
});

test('a record cut anywhere is incomplete; a changed byte is a CRC mismatch; length 0 is not a record', () => {
  const record = encodeRecord(JSON.stringify([put(1, 'k')]));
  for (let cut = 1; cut < record.length; cut++) assert.is(readRecord(record.subarray(0, cut), 0).kind, 'incomplete', `cut at ${cut}`);
  for (let at = recordHeaderBytes; at < record.length; at++) {
    const copy = Buffer.from(record);
    copy[at]! ^= 0x01;
    assert.is(readRecord(copy, 0).kind, 'bad-crc', `flip at ${at}`);
  }
  assert.is(readRecord(Buffer.alloc(16), 0).kind, 'bad-length');
  const crcFlipped = Buffer.from(record);
  crcFlipped[5]! ^= 0x80;
  assert.is(readRecord(crcFlipped, 0).kind, 'bad-crc');
});

test('a batch larger than the soft maximum is cut between events, in order', () => {
  const events = Array.from({ length: 50 }, (_, i) => put(i + 1, `key-${i}`, 'x'.repeat(100)));
  const records = encodeBatch(events, 1000);
  assert.ok(records.length > 5);
  const back = records.flatMap((record) => {
    const result = readRecord(record, 0);
    assert.is(result.kind, 'record');
    return result.kind === 'record' ? decodeBatch(result.payload, clockEntriesMax) : [];
  });
  assert.equal(back, events);
  assert.equal(encodeBatch([]), []);
});

test('decodeBatch refuses what this log never writes', () => {
  const refuse = (text: string, message: RegExp) => assert.throws(() => decodeBatch(Buffer.from(text), clockEntriesMax), message);
  refuse('[{"type":"put"', /not JSON/);
  refuse('{"type":"put"}', /non-empty array/);
  refuse('[]', /non-empty array/);
  refuse(JSON.stringify([{ ...put(1, 'k'), seq: 2 }]), /event 0 refused: event clock must count the event itself/);
  refuse(JSON.stringify([put(1, 'k'), { ...put(2, 'k'), origin: 'nobody' }]), /event 1 refused/);
});

test.run();
