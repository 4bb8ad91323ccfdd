import type { Context, Next } from 'koa';
import { ValidationError } from '../../events/validation-error.ts';
import { ViewFullError } from '../core/view-full-error.ts';
import type { Logger } from '../node/logger.ts';
import { DependenciesNotSatisfied } from '../node/dependencies-not-satisfied.ts';
import { BodyTooLargeError } from './body.ts';

/** How much of a refused body is read and thrown away so the client can read its 413, in bytes. */
const discardBytesMax = 128 * 1024 * 1024;

/**
 * The 413 is sent at once, before the client has sent the body (it may have declared a length it
 * should not upload at all); the rest of the refused body is read and thrown away (nothing is
 * kept). The connection stays open until the body has arrived, even when the client asked for
 * `Connection: close`: Node would otherwise close it right after the answer, and a client still
 * uploading would see a broken pipe instead of the 413. It is closed then, as asked. Past
 * `discardBytesMax` the connection is closed at once; slow uploads are bounded by the server's
 * request timeout. A body refused halfway for another reason (it does not decompress) is treated
 * the same: otherwise its unread rest would stall the next request on a keep-alive connection.
 */
function answerBeforeDiscardingRest(ctx: Context): void {
  const request = ctx.req;
  if (request.complete || request.destroyed) return;
  const closeAfter = !ctx.res.shouldKeepAlive;
  ctx.res.shouldKeepAlive = true;
  let discarded = 0;
  request.on('data', (chunk: Buffer) => {
    discarded += chunk.length;
    if (discarded > discardBytesMax) request.socket.destroy();
  });
  if (closeAfter) {
    request.once('end', () => {
      if (ctx.res.writableFinished) request.socket.end();
      else ctx.res.once('finish', () => request.socket.end());
    });
  }
  request.resume();
}

const bodilessErrors: Record<number, (method: string, path: string) => string> = {
  404: (method, path) => `No such endpoint: ${method} ${path}`,
  405: (method, path) => `Method ${method} is not allowed on ${path}`,
  501: (method) => `Method ${method} is not implemented`,
};

/** Errors raised by zlib, and by Koa or its middleware (http-errors), carry these. */
interface HttpishError {
  /** zlib's and brotli's, for a body its Content-Encoding does not match (Z_DATA_ERROR, ERR__ERROR_FORMAT_...). */
  code?: string;
  errno?: number;
  status?: number;
  statusCode?: number;
  type?: string;
  message?: string;
}

/**
 * The one place where failures become answers: always JSON `{"error": "..."}`, never an HTML page.
 * Expected failures (bad input, unsatisfied dependencies) map to their status; anything else is a
 * bug, logged, and answered 500.
 */
export function errorMiddleware(log: Logger) {
  return async function errors(ctx: Context, next: Next): Promise<void> {
    try {
      await next();
      if (ctx.status >= 400 && (ctx.body === undefined || ctx.body === null)) {
        // Answers no route gave a body to (the router's 405 and 501 among them): JSON too.
        const status = ctx.status;
        ctx.body = { error: bodilessErrors[status]?.(ctx.method, ctx.path) ?? `${ctx.method} ${ctx.path} failed (HTTP ${status})` };
        ctx.status = status;
      }
    } catch (error) {
      if (error instanceof DependenciesNotSatisfied) {
        ctx.status = 503;
        ctx.body = { error: error.message };
        return;
      }
      if (error instanceof ValidationError) {
        ctx.status = error.status;
        ctx.body = { error: error.message };
        return;
      }
      if (error instanceof ViewFullError) {
        ctx.status = 507;
        ctx.body = { error: error.message };
        return;
      }
      if (error instanceof BodyTooLargeError) {
        ctx.status = 413;
        ctx.body = { error: error.message };
        answerBeforeDiscardingRest(ctx);
        return;
      }
      const http = error as HttpishError;
      if (typeof http.errno === 'number' && typeof http.code === 'string' && ctx.get('content-encoding') !== '') {
        ctx.status = 400;
        ctx.body = { error: `Request body could not be decompressed as its Content-Encoding (${ctx.get('content-encoding')}) says: ${http.code}` };
        answerBeforeDiscardingRest(ctx);
        return;
      }
      const status = http.status ?? http.statusCode;
      if (status !== undefined && status >= 400 && status < 500) {
        ctx.status = status;
        ctx.body = { error: http.message || `${ctx.method} ${ctx.path} failed (HTTP ${status})` };
        return;
      }
      log.error({ event: 'error', err: error, method: ctx.method, path: ctx.path }, 'unexpected error');
      ctx.status = 500;
      ctx.body = { error: 'Internal error' };
    }
  };
}
