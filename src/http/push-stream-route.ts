import { isUtf8 } from 'node:buffer';
import type { Context } from 'koa';
import type { Limits } from '../../events/limits.ts';
import { parsePushRequest, type PushReply, type PushRequest, type PushStreamAnswer } from '../../events/peer-messages.ts';
import { ValidationError } from '../../events/validation-error.ts';
import type { InvariantViolation } from '../core/assert.ts';
import { LineSplitter, LineTooLongError } from '../transport/line-splitter.ts';
import { errorAnswer, type OnFatal } from './errors.ts';

/** Answers not yet taken by the sender past which it is not reading: the exchange is cut. */
const unreadAnswerBytesMax = 4 * 1024 * 1024;

function parseLine(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch (error) {
    throw new ValidationError(`push is not valid JSON: ${(error as Error).message}`);
  }
}

/**
 * Serves one push stream (transport/push-stream.ts): every line of the request body is a push,
 * handled exactly as `POST /internal/events` handles its body (a line that is not valid UTF-8 is
 * refused, never decoded leniently), and answered with one line, in order.
 * A push refused as expected (errorAnswer: bad input, a full view...) gets its status and message
 * in its line and the stream goes on; a line over the size bound ends the exchange (the framing can
 * no longer be trusted). A broken invariant cuts the exchange and goes to `onFatal`. Anything else
 * is a bug: the exchange is cut and the error rethrown, for the error middleware to log.
 */
export function servePushStream(ctx: Context, limits: Limits, receive: (request: PushRequest) => PushReply, onFatal: OnFatal): Promise<void> {
  ctx.status = 200; // for the middleware that reads it afterwards; the answer itself is written here
  ctx.respond = false;
  const { req, res } = ctx;
  res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
  res.flushHeaders();
  const lines = new LineSplitter(limits.peerBodyBytesMax);

  const answer = (line: Buffer): PushStreamAnswer => {
    if (!isUtf8(line)) return { error: 'push is not valid UTF-8', status: 400 };
    try {
      return { reply: receive(parsePushRequest(parseLine(line.toString('utf8')), limits)) };
    } catch (error) {
      const refused = errorAnswer(error);
      if (refused.kind !== 'expected') throw error;
      return { error: refused.body.error, status: refused.status };
    }
  };

  return new Promise<void>((resolve, reject) => {
    const stop = (error?: unknown): void => {
      req.removeAllListeners('data');
      if (error === undefined) resolve();
      else {
        res.destroy();
        reject(error);
      }
    };
    req.on('data', (chunk: Buffer) => {
      let out = '';
      try {
        for (const line of lines.pushBytes(chunk)) out += `${JSON.stringify(answer(line))}\n`;
      } catch (error) {
        if (errorAnswer(error).kind === 'invariant') {
          res.destroy();
          onFatal(error as InvariantViolation, { method: ctx.method, path: ctx.path });
          return stop();
        }
        if (!(error instanceof LineTooLongError)) return stop(error);
        // The connection goes once this last answer is out: the rest of the body is not read.
        res.end(`${out}${JSON.stringify({ error: `push is larger than ${limits.peerBodyBytesMax} bytes`, status: 413 })}\n`, () => req.socket.destroy());
        return stop();
      }
      if (out !== '') res.write(out);
      if (res.writableLength > unreadAnswerBytesMax) {
        res.destroy();
        stop();
      }
    });
    req.on('end', () => {
      res.end();
      stop();
    });
    req.on('error', () => {
      res.destroy();
      stop();
    });
    res.on('close', () => stop());
  });
}
