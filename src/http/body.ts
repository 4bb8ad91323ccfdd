import type { Context, Next } from 'koa';
import bodyParser from 'koa-bodyparser';
import { isPlainObject } from '../../events/parse-event.ts';
import { ValidationError } from '../../events/validation-error.ts';

/**
 * Reads every request body as JSON, whatever its Content-Type says (curl -d sends form encoding,
 * clients send bodies with GET), refusing bodies over the limit with 413 as soon as the declared
 * length or the bytes read exceed it. An empty body counts as {}.
 */
export function jsonBody(limitBytes: number) {
  const parse = bodyParser({ enableTypes: ['json'], jsonLimit: `${limitBytes}b`, strict: true });
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
