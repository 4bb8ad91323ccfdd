import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { crc32c } from '../../src/storage/crc32c.ts';

/** The definition, one bit at a time: what the table-driven version must agree with. */
function bitwise(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return ~crc >>> 0;
}

test('the standard check value: CRC-32C("123456789") = 0xE3069283', () => {
  assert.is(crc32c(Buffer.from('123456789')), 0xe3069283);
});

test('the iSCSI test vectors of RFC 3720 (B.4)', () => {
  assert.is(crc32c(Buffer.alloc(32, 0)), 0x8a9136aa);
  assert.is(crc32c(Buffer.alloc(32, 0xff)), 0x62a8ab43);
  assert.is(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e);
  assert.is(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i)), 0x113fdb5c);
});

test('nothing has CRC 0', () => {
  assert.is(crc32c(new Uint8Array(0)), 0);
});

test('agrees with the bitwise definition on any bytes, any range, and piece by piece', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), fc.nat(), (bytes, a, b) => {
      const expected = bitwise(bytes);
      assert.is(crc32c(bytes), expected);
      const cut = bytes.length === 0 ? 0 : a % (bytes.length + 1);
      assert.is(crc32c(bytes, crc32c(bytes, 0, 0, cut), cut), expected);
      const start = bytes.length === 0 ? 0 : b % (bytes.length + 1);
      assert.is(crc32c(bytes, 0, start, bytes.length), bitwise(bytes.subarray(start)));
    }),
    { numRuns: 500 },
  );
});

test.run();
