import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LineSplitter, LineTooLongError } from '../../src/transport/line-splitter.ts';

test('LineSplitter gives back the lines of a stream however it is cut into chunks', () => {
  const line = fc.string({ unit: fc.constantFrom('a', 'é', '€', '𝄞', '{', '"', ' '), maxLength: 20 });
  fc.assert(
    fc.property(fc.array(line, { maxLength: 12 }), fc.array(fc.nat({ max: 60 }), { maxLength: 10 }), (lines, cuts) => {
      const bytes = Buffer.from(lines.map((l) => `${l}\n`).join(''), 'utf8');
      const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
      const splitter = new LineSplitter(1024);
      const seen: string[] = [];
      let from = 0;
      for (const to of [...points, bytes.length]) {
        seen.push(...splitter.push(bytes.subarray(from, to)));
        from = to;
      }
      assert.equal(seen, lines);
      assert.is(splitter.heldBytes, 0);
    }),
  );
});

test('LineSplitter holds an unfinished line until its newline comes', () => {
  const splitter = new LineSplitter(100);
  assert.equal(splitter.push(Buffer.from('ab')), []);
  assert.is(splitter.heldBytes, 2);
  assert.equal(splitter.push(Buffer.from('c\nd')), ['abc']);
  assert.equal(splitter.push(Buffer.from('\n\n')), ['d', '']);
});

test('LineSplitter refuses a line over its bound, whether it arrives whole or in pieces', () => {
  assert.throws(() => new LineSplitter(4).push(Buffer.from('12345\n')), (error: unknown) => error instanceof LineTooLongError);
  const pieces = new LineSplitter(4);
  assert.equal(pieces.push(Buffer.from('123')), []);
  assert.throws(() => pieces.push(Buffer.from('45')), /longer than 4 bytes/);
  assert.equal(new LineSplitter(4).push(Buffer.from('1234\n')), ['1234']);
  assert.throws(() => new LineSplitter(0), /positive integer/);
});

test('LineSplitter.pushBytes gives the bytes of each line as sent, invalid UTF-8 included, for the reader to refuse', () => {
  const splitter = new LineSplitter(100);
  assert.equal(splitter.pushBytes(Buffer.from([0x61, 0xe4])), []);
  const lines = splitter.pushBytes(Buffer.from([0xb8, 0x96, 0x0a, 0xff, 0x0a]));
  assert.equal(lines.map((line) => [...line]), [[0x61, 0xe4, 0xb8, 0x96], [0xff]]);
  assert.equal(lines.map((line) => line.toString('utf8')), ['a世', '\uFFFD']);
});

test.run();
