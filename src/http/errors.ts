import { STATUS_CODES } from 'node:http';
import type { Context, Next } from 'koa';
import { ExpectedError } from '../../events/expected-error.ts';
import { InvariantViolation } from '../core/assert.ts';
import type { Logger } from '../node/logger.ts';

/** How much of a refused body is read and thrown away so the client can read its answer, in bytes. */
const discardBytesMax = 128 * 1024 * 1024;

/**
 * An error answered before the request body has all arrived (a 413 for a body over the limit,
 * which may have declared a length it should not upload at all; a 403 from the cluster token,
 * checked before a peer's body is read) is sent at once; the rest of the refused body is read and
 * thrown away (nothing is kept). The connection stays open until the body has arrived, even when
 * the client asked for `Connection: close`: Node would otherwise close it right after the answer,
 * and a client still uploading would see a broken pipe instead of its answer. It is closed then,
 * as asked. Past `discardBytesMax` the connection is closed at once; slow uploads are bounded by
 * the server's request timeout.
 */
function answerBeforeDiscardingRest(ctx: Context): void {
  const request = ctx.req;
  if (request.complete || request.destroyed || ctx.res.headersSent) return;
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

/**
 * What a failure is answered with.
 * - `expected`: an ExpectedError (bad input, unsatisfied dependencies, a full view, a refused
 *   token...): its own status, and its message unless it is not to be exposed.
 * - `bug`: anything else; to be logged, and answered 500 with a generic text.
 * - `invariant`: an InvariantViolation; never answered as if the process could go on: whoever
 *   meets it hands it to `onFatal` (the process exits). `status` and `body` are those of a bug.
 */
export interface ErrorAnswer {
  readonly kind: 'expected' | 'bug' | 'invariant';
  readonly status: number;
  readonly body: { readonly error: string };
  /** Whether `body` carries the error's own message (false: a generic text for the status). */
  readonly expose: boolean;
}

const internalError = { error: 'Internal error' } as const;

/** The one mapping from a thrown value to its answer, for the error middleware and the push stream alike. */
export function errorAnswer(error: unknown): ErrorAnswer {
  if (error instanceof ExpectedError) {
    const body = error.expose ? { error: error.message, ...error.details } : { error: STATUS_CODES[error.status] ?? `HTTP ${error.status}` };
    return { kind: 'expected', status: error.status, body, expose: error.expose };
  }
  if (error instanceof InvariantViolation) return { kind: 'invariant', status: 500, body: internalError, expose: false };
  return { kind: 'bug', status: 500, body: internalError, expose: false };
}

/**
 * Called with a broken invariant met while serving a request, and where it was met. It must not
 * return in production (src/main.ts logs it and exits); if it does (tests), the exchange is cut
 * without an answer.
 */
export type OnFatal = (error: InvariantViolation, where: { readonly method: string; readonly path: string }) => void;

/**
 * The one place where failures of requests become answers: always JSON `{"error": "..."}`, never an
 * HTML page. What an error is answered with is errorAnswer's; a bug is also logged; a broken
 * invariant goes to `onFatal` and is not answered at all.
 */
export function errorMiddleware(log: Logger, onFatal: OnFatal) {
  return async function errors(ctx: Context, next: Next): Promise<void> {
    try {
      await next();
      if (ctx.status >= 400 && (ctx.body === undefined || ctx.body === null)) {
        // Answers no route gave a body to (the router's 405 and 501 among them): JSON too.
        const status = ctx.status;
        ctx.body = { error: bodilessErrors[status]?.(ctx.method, ctx.path) ?? `${ctx.method} ${ctx.path} failed (HTTP ${status})` };
        ctx.status = status;
        answerBeforeDiscardingRest(ctx);
      }
    } catch (error) {
      const answer = errorAnswer(error);
      if (answer.kind === 'invariant') {
        onFatal(error as InvariantViolation, { method: ctx.method, path: ctx.path });
        ctx.status = 500; // what the request metrics count; nothing is sent
        ctx.respond = false;
        ctx.res.destroy();
        return;
      }
      if (answer.kind === 'bug') log.error({ event: 'error', err: error, method: ctx.method, path: ctx.path }, 'unexpected error');
      ctx.status = answer.status;
      ctx.body = answer.body;
      answerBeforeDiscardingRest(ctx);
    }
  };
}
