import { isUtf8 } from 'node:buffer';
import type { Context } from 'koa';
import type { Limits } from '../../events/limits.ts';
import { parsePushRequest, type PushReply, type PushRequest, type PushStreamAnswer } from '../../events/peer-messages.ts';
import { ValidationError } from '../../events/validation-error.ts';
import { ViewFullError } from '../core/view-full-error.ts';
import { LineSplitter, LineTooLongError } from '../transport/line-splitter.ts';

/** Answers not yet taken by the sender past which it is not reading: the exchange is cut. */
const unreadAnswerBytesMax = 4 * 1024 * 1024;

/**
 * Serves one push stream (transport/push-stream.ts): every line of the request body is a push,
 * handled exactly as `POST /internal/events` handles its body (a line that is not valid UTF-8 is
 * refused, never decoded leniently), and answered with one line, in order.
 * A push refused for bad input gets its 4xx line and the stream goes on; a line over the size
 * bound ends the exchange (the framing can no longer be trusted). Anything else is a bug: the
 * exchange is cut and the error rethrown, for the error middleware to log.
 */
export function servePushStream(ctx: Context, limits: Limits, receive: (request: PushRequest) => PushReply): Promise<void> {
  ctx.status = 200; // for the middleware that reads it afterwards; the answer itself is written here
  ctx.respond = false;
  const { req, res } = ctx;
  res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
  res.flushHeaders();
  const lines = new LineSplitter(limits.peerBodyBytesMax);

  const answer = (line: Buffer): PushStreamAnswer => {
    if (!isUtf8(line)) return { error: 'push is not valid UTF-8', status: 400 };
    try {
      return { reply: receive(parsePushRequest(JSON.parse(line.toString('utf8')), limits)) };
    } catch (error) {
      if (error instanceof ValidationError) return { error: error.message, status: error.status };
      if (error instanceof SyntaxError) return { error: `push is not valid JSON: ${error.message}`, status: 400 };
      if (error instanceof ViewFullError) return { error: error.message, status: 507 };
      throw error;
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
