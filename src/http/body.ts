import type { Context, Next } from 'koa';
import bodyParser from 'koa-bodyparser';
import { isPlainObject } from '../../events/parse-event.ts';
import { ValidationError } from '../../events/validation-error.ts';

/** What koa-bodyparser (co-body, raw-body, inflation, zlib) throws carries these. */
interface BodyParserError {
  /** zlib's and brotli's, for a body its Content-Encoding does not match (Z_DATA_ERROR, ERR__ERROR_FORMAT_...). */
  code?: string;
  errno?: number;
  status?: number;
  statusCode?: number;
  type?: string;
  message?: string;
}

/** What a body koa-bodyparser refused is told: strict parsing refuses JSON that is valid but not an object or array. */
function bodyParseMessage(message: string): string {
  if (/prototype/.test(message)) return 'Request body contains a "__proto__" key, which this store refuses';
  if (/only supports object and array/.test(message)) return 'Request body must be a JSON object';
  return `Request body is not valid JSON: ${message || 'parse error'}`;
}

/**
 * A body that could not be read, as the ValidationError it is answered with: undecompressable
 * (400), over the limit (413), not JSON or not acceptable JSON (its 4xx). Anything else is not the
 * client's doing and is thrown on as it is.
 */
function bodyError(error: unknown, ctx: Context, limitBytes: number): unknown {
  const refused = error as BodyParserError;
  const encoding = ctx.get('content-encoding');
  if (typeof refused.errno === 'number' && typeof refused.code === 'string' && encoding !== '') {
    return new ValidationError(`Request body could not be decompressed as its Content-Encoding (${encoding}) says: ${refused.code}`);
  }
  const status = refused.status ?? refused.statusCode;
  if (refused.type === 'entity.too.large' || status === 413) return new ValidationError(`Request body is too large (over ${limitBytes} bytes)`, 413);
  if (status !== undefined && status >= 400 && status < 500) return new ValidationError(bodyParseMessage(refused.message ?? ''), status);
  return error;
}

/**
 * Reads every request body as JSON, whatever its Content-Type says (curl -d sends form encoding,
 * clients send bodies with GET), refusing bodies over the limit with 413 as soon as the declared
 * length or the bytes read exceed it. An empty body counts as {}.
 */
export function jsonBody(limitBytes: number) {
  const parse = bodyParser({
    enableTypes: ['json'],
    jsonLimit: `${limitBytes}b`,
    strict: true,
    onerror: (error, ctx) => {
      throw bodyError(error, ctx, limitBytes);
    },
  });
  return function body(ctx: Context, next: Next): Promise<void> {
    const hasBody = ctx.request.length > 0 || ctx.get('transfer-encoding') !== '';
    if (hasBody) ctx.req.headers['content-type'] = 'application/json';
    return parse(ctx, next);
  };
}

/** The parsed body as an object, or a 400 saying why not. */
export function bodyObject(ctx: Context): Record<string, unknown> {
  const body: unknown = ctx.request.body;
  if (body === undefined) return {};
  if (!isPlainObject(body)) throw new ValidationError('Request body must be a JSON object');
  return body;
}
