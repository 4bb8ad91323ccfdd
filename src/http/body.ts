import { isUtf8 } from 'node:buffer';
import type { Transform } from 'node:stream';
import { createBrotliDecompress, createUnzip } from 'node:zlib';
import type { Context, Next } from 'koa';
import { isPlainObject } from '../../events/parse-event.ts';
import { ValidationError } from '../../events/validation-error.ts';

/**
 * A body over the byte limit. The error middleware answers 413 at once and reads and throws away
 * the rest of the body (src/http/errors.ts); nothing of it is kept.
 */
export class BodyTooLargeError extends ValidationError {
  constructor(readonly limitBytes: number) {
    super(`Request body is too large (over ${limitBytes} bytes)`, 413);
    this.name = 'BodyTooLargeError';
  }
}

/** Where the parsed body is kept on the request, as koa-bodyparser kept it. */
interface WithBody {
  body?: unknown;
}

/** The parsed body of this request (`{}` when it had none); undefined when it was not read (the push stream). */
export function requestBody(ctx: Context): unknown {
  return (ctx.request as WithBody).body;
}

/**
 * Reads every request body as JSON, whatever its Content-Type says (curl -d sends form encoding,
 * clients send bodies with GET), refusing bodies over the limit with 413 as soon as the declared
 * length or the bytes read exceed it. An empty body counts as {}. A body that is not valid UTF-8
 * is a 400: JSON text is UTF-8 (RFC 8259), and decoding it leniently would store U+FFFD in place of
 * the client's bytes, altering its data without a word.
 */
export function jsonBody(limitBytes: number) {
  return async function body(ctx: Context, next: Next): Promise<void> {
    const request = ctx.request as WithBody;
    if (request.body === undefined) {
      const hasBody = ctx.request.length > 0 || ctx.get('transfer-encoding') !== '';
      request.body = hasBody ? parseJsonBody(await readBody(ctx, limitBytes)) : {};
    }
    return next();
  };
}

/** The parsed body as an object, or a 400 saying why not. */
export function bodyObject(ctx: Context): Record<string, unknown> {
  return objectOf(requestBody(ctx));
}

/** A parsed body as an object (none: `{}`), or a 400 saying why not. */
export function objectOf(body: unknown): Record<string, unknown> {
  if (body === undefined) return {};
  if (!isPlainObject(body)) throw new ValidationError('Request body must be a JSON object');
  return body;
}

/** The decompressor for a Content-Encoding (gzip, deflate, br), none for identity; 415 for any other. */
function decompressorFor(encoding: string): Transform | undefined {
  switch (encoding) {
    case 'identity':
      return undefined;
    case 'gzip':
    case 'deflate':
      return createUnzip();
    case 'br':
      return createBrotliDecompress();
    default:
      throw new ValidationError(`Unsupported Content-Encoding: ${encoding.slice(0, 80)} (this store reads gzip, deflate, br or identity)`, 415);
  }
}

/**
 * The body's bytes, decompressed as its Content-Encoding says; BodyTooLargeError past `limitBytes`
 * (of decompressed bytes), before reading anything when an uncompressed body declares a larger
 * length. On any failure reading stops and the request is left paused (the error middleware
 * decides what becomes of the rest). Decompression errors are zlib's own (errno and code).
 */
function readBody(ctx: Context, limitBytes: number): Promise<Buffer> {
  const request = ctx.req;
  const encoding = ctx.get('content-encoding') || 'identity';
  const declared = ctx.request.length;
  if (encoding === 'identity' && declared !== undefined && declared > limitBytes) return Promise.reject(new BodyTooLargeError(limitBytes));
  let decompressor: Transform | undefined;
  try {
    decompressor = decompressorFor(encoding);
  } catch (error) {
    return Promise.reject(error);
  }
  const source = decompressor ?? request;
  if (decompressor !== undefined) request.pipe(decompressor);

  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const undecompressable = (error: { code?: string }): void =>
      finish(new ValidationError(`Request body could not be decompressed as its Content-Encoding (${encoding}) says: ${error.code ?? 'bad data'}`));
    const finish = (error?: unknown): void => {
      source.off('data', onData);
      source.off('end', onEnd);
      request.off('error', onCutOff);
      request.off('close', onClose);
      if (decompressor !== undefined) {
        decompressor.off('error', undecompressable);
        request.unpipe(decompressor);
        decompressor.on('error', () => undefined); // destroyed: nothing more is read from it
        decompressor.destroy();
      }
      if (error === undefined) {
        resolve(Buffer.concat(chunks, received));
        return;
      }
      request.pause();
      reject(error);
    };
    const onData = (chunk: Buffer): void => {
      received += chunk.length;
      if (received > limitBytes) finish(new BodyTooLargeError(limitBytes));
      else chunks.push(chunk);
    };
    const onEnd = (): void => finish();
    // The client went away mid-body (no one reads the answer): a 4xx, not a bug to log.
    const onCutOff = (): void => finish(new ValidationError('Request body was cut off before its end'));
    const onClose = (): void => {
      if (!request.complete) onCutOff();
    };
    source.on('data', onData);
    source.on('end', onEnd);
    request.on('error', onCutOff);
    request.on('close', onClose);
    decompressor?.on('error', undecompressable);
  });
}

const byteOrderMark = Buffer.from([0xef, 0xbb, 0xbf]);

/** What strict JSON parsing accepts as the start of a body: an object or an array. */
const objectOrArrayStart = /^[\x20\x09\x0a\x0d]*[{[]/;

/**
 * The body as JSON: `{}` when empty (a leading UTF-8 byte order mark is ignored), a 400 when it is
 * not valid UTF-8, not JSON, or not an object or array at the top.
 *
 * A `__proto__` key is an ordinary key (a value is any JSON value: docs/API.md). JSON.parse makes
 * it an own property and never touches a prototype; nothing in this store copies a body's keys onto
 * another object by assignment, and every parser of a message checks a key (a replica id, an
 * address, a group tag) before it uses one as a property name.
 */
export function parseJsonBody(bytes: Buffer): unknown {
  if (!isUtf8(bytes)) {
    throw new ValidationError('Request body is not valid UTF-8 (JSON text must be UTF-8); nothing was changed');
  }
  const start = bytes.subarray(0, 3).equals(byteOrderMark) ? 3 : 0;
  if (bytes.length === start) return {};
  const text = bytes.toString('utf8', start);
  if (!objectOrArrayStart.test(text)) throw new ValidationError('Request body must be a JSON object');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ValidationError(`Request body is not valid JSON: ${(error as Error).message || 'parse error'}`);
  }
  return parsed;
}
