import { isUtf8 } from 'node:buffer';
import type { Context } from 'koa';
import { forwardRequestId, parseForwardRequest, type ForwardRequestFrame } from '../../events/forward-frames.ts';
import type { InvariantViolation } from '../core/assert.ts';
import { errorAnswer, type OnFatal } from '../http/errors.ts';
import type { KvsAnswer } from '../http/kvs-routes.ts';
import type { Logger } from '../node/logger.ts';
import { LineSplitter, LineTooLongError } from '../transport/line-splitter.ts';

/** Answers not yet taken by the forwarding node past which it is not reading: the exchange is cut. */
const unreadAnswerBytesMax = 4 * 1024 * 1024;
/** Most requests of one stream being served at once; more are answered 503 (the forwarder bounds itself lower). */
const servingMax = 8192;

/** A line that is not a request with an id: it cannot be answered, and the framing is not to be trusted. */
class FramingLost extends Error {}

export interface ForwardStreamServing {
  /** Most bytes of one request line. */
  readonly lineBytesMax: number;
  /** Serves one forwarded request; a refusal is thrown (an ExpectedError). */
  readonly serve: (request: ForwardRequestFrame) => Promise<KvsAnswer>;
  readonly onFatal: OnFatal;
  readonly log: Logger;
}

/**
 * Serves one forward stream (forward-stream.ts): every line of the request body is a client
 * request another node forwarded here, served as if the client had sent it to this node, and
 * answered with one line naming its id, as soon as it is ready (answers ready in one turn of the
 * event loop go out in one write). A line that is not a request with an id, or over the size
 * bound, ends the exchange once the answers due are out (the framing can no longer be trusted); a
 * request that is wrong in any other way gets its 400 like a client's. A broken invariant cuts the
 * exchange and goes to `onFatal`; a bug is logged and answered 500, as the error middleware does.
 */
export function serveForwardStream(ctx: Context, serving: ForwardStreamServing): Promise<void> {
  ctx.status = 200; // for the middleware that reads it afterwards; the answer itself is written here
  ctx.respond = false;
  const { req, res } = ctx;
  res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
  res.flushHeaders();
  const lines = new LineSplitter(serving.lineBytesMax);
  let inService = 0;
  let out: string[] = [];
  let flushScheduled = false;
  /** No more requests will be read: once every one read is answered, the exchange ends. */
  let lastRead = false;
  let cut = false;
  let finished = false;

  return new Promise<void>((resolve) => {
    const stop = (): void => {
      if (finished) return;
      finished = true;
      req.removeAllListeners('data');
      resolve();
    };
    const abort = (): void => {
      res.destroy();
      stop();
    };
    const flush = (): void => {
      flushScheduled = false;
      if (finished) return;
      const text = out.join('');
      out = [];
      if (lastRead && inService === 0) {
        if (cut) res.end(text, () => req.socket.destroy());
        else res.end(text);
        return stop();
      }
      if (text !== '') res.write(text);
      if (res.writableLength > unreadAnswerBytesMax) abort();
    };
    const put = (id: number, answer: KvsAnswer): void => {
      out.push(`${JSON.stringify({ id, status: answer.status, body: answer.body })}\n`);
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flush);
      }
    };
    const refusal = (error: unknown): KvsAnswer | undefined => {
      const answer = errorAnswer(error);
      if (answer.kind === 'invariant') {
        serving.onFatal(error as InvariantViolation, { method: 'POST', path: ctx.path });
        abort();
        return undefined;
      }
      if (answer.kind === 'bug') serving.log.error({ event: 'error', err: error, path: ctx.path }, 'unexpected error serving a forwarded request');
      return { status: answer.status, body: answer.body };
    };
    const serveLine = (line: Buffer): void => {
      let input: unknown;
      try {
        input = isUtf8(line) ? JSON.parse(line.toString('utf8')) : undefined;
      } catch {
        input = undefined;
      }
      const id = forwardRequestId(input);
      if (id === undefined) throw new FramingLost();
      let request: ForwardRequestFrame;
      try {
        request = parseForwardRequest(input);
      } catch (error) {
        const answer = refusal(error);
        if (answer !== undefined) put(id, answer);
        return;
      }
      if (inService >= servingMax) {
        put(id, { status: 503, body: { error: 'too many forwarded requests at once; try again' } });
        return;
      }
      inService++;
      serving.serve(request).then(
        (answer) => {
          inService--;
          put(id, answer);
        },
        (error: unknown) => {
          inService--;
          const answer = refusal(error);
          if (answer !== undefined) put(id, answer);
        },
      );
    };
    req.on('data', (chunk: Buffer) => {
      try {
        for (const line of lines.pushBytes(chunk)) serveLine(line);
      } catch (error) {
        if (!(error instanceof LineTooLongError) && !(error instanceof FramingLost)) {
          serving.log.error({ event: 'error', err: error, path: ctx.path }, 'unexpected error reading a forward stream');
          abort();
          return;
        }
        req.removeAllListeners('data');
        lastRead = true;
        cut = true;
        if (!flushScheduled) {
          flushScheduled = true;
          setImmediate(flush);
        }
      }
    });
    req.on('end', () => {
      lastRead = true;
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flush);
      }
    });
    req.on('error', abort);
    res.on('close', () => {
      if (!finished) stop();
    });
  });
}
