import type { KvEvent } from '../../events/kv-event.ts';
import { parseEvent } from '../../events/parse-event.ts';
import { crc32c } from './crc32c.ts';

/**
 * One log record: [u32 payload length][u32 CRC-32C of the payload][payload], both numbers little
 * endian, the payload the UTF-8 JSON of an array of events (one appended batch, or a piece of it).
 * The length comes first so a reader knows where the next record starts; the CRC tells a record
 * written whole from a torn or damaged one.
 */
export const recordHeaderBytes = 8;

/**
 * A batch whose JSON is longer than this is cut into several records (between events), so no
 * record, and no single JSON text, grows with the batch. Recovery replays events one by one, in
 * order, so the cut changes nothing there.
 */
export const recordPayloadSoftMax = 8 * 1024 * 1024;

/** No record this log writes is longer; a length field above it is damage, not data. */
export const recordPayloadMax = 1024 * 1024 * 1024;

/** One record around `json`. */
export function encodeRecord(json: string): Buffer {
  const length = Buffer.byteLength(json);
  const record = Buffer.allocUnsafe(recordHeaderBytes + length);
  encodeRecordInto(record, 0, json, length);
  return record;
}

/** Writes the record around `json` (`length` its UTF-8 bytes) into `target` at `offset`; returns where it ends. */
export function encodeRecordInto(target: Buffer, offset: number, json: string, length: number): number {
  const start = offset + recordHeaderBytes;
  target.write(json, start, length, 'utf8');
  target.writeUInt32LE(length, offset);
  target.writeUInt32LE(crc32c(target, 0, start, start + length), offset + 4);
  return start + length;
}

/** The JSON payloads of the records of one appended batch: usually one; a batch over `payloadSoftMax` is cut between events. */
export function batchPayloads(events: readonly KvEvent[], payloadSoftMax = recordPayloadSoftMax): string[] {
  const payloads: string[] = [];
  let parts: string[] = [];
  let length = 2;
  for (const event of events) {
    const json = JSON.stringify(event);
    if (parts.length > 0 && length + json.length + 1 > payloadSoftMax) {
      payloads.push(`[${parts.join(',')}]`);
      parts = [];
      length = 2;
    }
    parts.push(json);
    length += json.length + 1;
  }
  if (parts.length > 0) payloads.push(`[${parts.join(',')}]`);
  return payloads;
}

/** The records of one appended batch: usually one; a batch over recordPayloadSoftMax is cut between events. */
export function encodeBatch(events: readonly KvEvent[], payloadSoftMax = recordPayloadSoftMax): Buffer[] {
  return batchPayloads(events, payloadSoftMax).map(encodeRecord);
}

/** What is at one offset of a segment. */
export type RecordRead =
  | { readonly kind: 'record'; readonly payload: Buffer; readonly end: number }
  /** Nothing: the offset is the end of the data. */
  | { readonly kind: 'end' }
  /** The header or the payload runs past the end of the data. */
  | { readonly kind: 'incomplete' }
  /** A length no record has (0, or over recordPayloadMax). */
  | { readonly kind: 'bad-length'; readonly length: number }
  /** Complete, but the CRC does not match: `end` is where the record would end. */
  | { readonly kind: 'bad-crc'; readonly end: number };

export function readRecord(data: Buffer, offset: number): RecordRead {
  if (offset === data.length) return { kind: 'end' };
  if (data.length - offset < recordHeaderBytes) return { kind: 'incomplete' };
  const length = data.readUInt32LE(offset);
  const crc = data.readUInt32LE(offset + 4);
  if (length === 0 || length > recordPayloadMax) return { kind: 'bad-length', length };
  const start = offset + recordHeaderBytes;
  const end = start + length;
  if (end > data.length) return { kind: 'incomplete' };
  if (crc32c(data, 0, start, end) !== crc) return { kind: 'bad-crc', end };
  return { kind: 'record', payload: data.subarray(start, end), end };
}

/**
 * The events of a record's payload, each re-validated as if a peer had sent it. Throws (with the
 * reason) on anything this log never writes: bad JSON, not an array, an empty array, an invalid event.
 */
export function decodeBatch(payload: Buffer, clockEntriesMax: number): KvEvent[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload.toString('utf8'));
  } catch {
    throw new Error('payload is not JSON');
  }
  if (!Array.isArray(parsed) || parsed.length === 0) throw new Error('payload is not a non-empty array of events');
  return parsed.map((input, index) => {
    try {
      return parseEvent(input, clockEntriesMax);
    } catch (error) {
      throw new Error(`event ${index} refused: ${(error as Error).message}`);
    }
  });
}
