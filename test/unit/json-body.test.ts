// The request body reader's parsing (src/http/body.ts): UTF-8 checked before JSON is parsed, so a
// client's bytes are stored exactly as sent or refused, never altered.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ValidationError } from '../../events/validation-error.ts';
import { parseJsonBody } from '../../src/http/body.ts';

const refusedWith = (pattern: RegExp) => (error: unknown) => error instanceof ValidationError && error.status === 400 && pattern.test(error.message);

test('valid UTF-8 parses to exactly the text sent, a byte order mark in front ignored', () => {
  const body = { value: '😀 世界 e\u0301 \uFFFD', 'causal-metadata': null };
  assert.equal(parseJsonBody(Buffer.from(JSON.stringify(body))), body);
  assert.equal(parseJsonBody(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(body))])), body);
  assert.equal(parseJsonBody(Buffer.alloc(0)), {});
  assert.equal(parseJsonBody(Buffer.from([0xef, 0xbb, 0xbf])), {});
});

test('bytes that are not UTF-8 are a 400 that says so, wherever they are', () => {
  for (const bytes of [[0xff], [0xfe], [0x80], [0xc3], [0xe4, 0xb8], [0xf0, 0x9f, 0x98], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80]]) {
    const inString = Buffer.concat([Buffer.from('{"value": "a'), Buffer.from(bytes), Buffer.from('"}')]);
    assert.throws(() => parseJsonBody(inString), refusedWith(/not valid UTF-8/), `in a string: ${bytes.join(' ')}`);
    const atEnd = Buffer.concat([Buffer.from('{"value": 1}'), Buffer.from(bytes)]);
    assert.throws(() => parseJsonBody(atEnd), refusedWith(/not valid UTF-8/), `at the end: ${bytes.join(' ')}`);
  }
});

test('what is not a JSON object or array is a 400 as before', () => {
  assert.throws(() => parseJsonBody(Buffer.from('"text"')), refusedWith(/must be a JSON object/));
  assert.throws(() => parseJsonBody(Buffer.from('   ')), refusedWith(/must be a JSON object/));
  assert.throws(() => parseJsonBody(Buffer.from('{"value": ')), refusedWith(/^Request body is not valid JSON: /));
  assert.equal(parseJsonBody(Buffer.from('[1]')), [1]);
});

test('a __proto__ key is an ordinary key: kept as an own key, escaped or not, at any depth, and no prototype changes', () => {
  const text = '{"__proto__": {"polluted": 1}, "value": {"__proto__": {"x": 1}, "list": [{"\\u005f_proto__": null}]}}';
  const parsed = parseJsonBody(Buffer.from(text)) as Record<string, any>;
  assert.is(JSON.stringify(parsed), JSON.stringify(JSON.parse(text)));
  assert.ok(Object.prototype.hasOwnProperty.call(parsed, '__proto__'));
  assert.is(Object.getPrototypeOf(parsed), Object.prototype);
  assert.equal(Object.keys(parsed.value), ['__proto__', 'list']);
  assert.ok(Object.prototype.hasOwnProperty.call(parsed.value.list[0], '__proto__'));
  assert.is(({} as Record<string, unknown>).polluted, undefined);
  assert.is(({} as Record<string, unknown>).x, undefined);
});

test.run();
