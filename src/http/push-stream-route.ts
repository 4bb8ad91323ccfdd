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
 * refused, never decoded leniently), and answered with one line, in order. `receive` may answer a
 * push late (once storage holds what it delivered: ReplicaNode.receive), and later pushes sooner:
 * the answers go out in the order of the pushes, each as soon as those before it are out.
 * A push refused as expected (errorAnswer: bad input, a full view...) gets its status and message
 * in its line and the stream goes on; a line over the size bound ends the exchange (the framing can
 * no longer be trusted) once the answers before it are out. A broken invariant cuts the exchange
 * and goes to `onFatal`. Anything else is a bug: the exchange is cut and the error rethrown, for
 * the error middleware to log.
 */
export function servePushStream(
  ctx: Context,
  limits: Limits,
  receive: (request: PushRequest, answer: (reply: PushReply) => void) => void,
  onFatal: OnFatal,
): Promise<void> {
  ctx.status = 200; // for the middleware that reads it afterwards; the answer itself is written here
  ctx.respond = false;
  const { req, res } = ctx;
  res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
  res.flushHeaders();
  const lines = new LineSplitter(limits.peerBodyBytesMax);
  /** One per push read and not yet written out, in order: its answer line once known. */
  const pending: { text: string | undefined }[] = [];
  /** The request body ended (or a line was too long): once `pending` is written out, the exchange ends. */
  let lastRead = false;
  let tooLong = false;
  let finished = false;
  /** Inside the 'data' handler: answers known at once are written together at its end. */
  let reading = false;

  /** Calls `put` with the push's answer, now or later; throws only what is not an expected refusal. */
  const answer = (line: Buffer, put: (answer: PushStreamAnswer) => void): void => {
    if (!isUtf8(line)) return put({ error: 'push is not valid UTF-8', status: 400 });
    let request: PushRequest;
    try {
      request = parsePushRequest(parseLine(line.toString('utf8')), limits);
    } catch (error) {
      const refused = errorAnswer(error);
      if (refused.kind !== 'expected') throw error;
      return put({ error: refused.body.error, status: refused.status });
    }
    let answered = false;
    try {
      receive(request, (reply) => {
        answered = true;
        put({ reply });
      });
    } catch (error) {
      const refused = errorAnswer(error);
      if (refused.kind !== 'expected' || answered) throw error;
      put({ error: refused.body.error, status: refused.status });
    }
  };

  return new Promise<void>((resolve, reject) => {
    const stop = (error?: unknown): void => {
      finished = true;
      req.removeAllListeners('data');
      if (error === undefined) resolve();
      else {
        res.destroy();
        reject(error);
      }
    };
    /** Writes the answers known, in order, up to the first still awaited; ends the exchange after the last. */
    const writeOut = (): void => {
      if (finished || reading) return;
      let out = '';
      let taken = 0;
      while (taken < pending.length && pending[taken]!.text !== undefined) out += pending[taken++]!.text;
      if (taken > 0) pending.splice(0, taken);
      if (lastRead && pending.length === 0) {
        // The connection goes once the last answer is out when the body was cut short (a line too long).
        if (tooLong) res.end(out, () => req.socket.destroy());
        else res.end(out);
        return stop();
      }
      if (out !== '') res.write(out);
      if (res.writableLength > unreadAnswerBytesMax) {
        res.destroy();
        stop();
      }
    };
    req.on('data', (chunk: Buffer) => {
      reading = true;
      try {
        for (const line of lines.pushBytes(chunk)) {
          const slot: { text: string | undefined } = { text: undefined };
          pending.push(slot);
          answer(line, (result) => {
            slot.text = `${JSON.stringify(result)}\n`;
            writeOut();
          });
        }
      } catch (error) {
        reading = false;
        if (errorAnswer(error).kind === 'invariant') {
          res.destroy();
          onFatal(error as InvariantViolation, { method: ctx.method, path: ctx.path });
          return stop();
        }
        if (!(error instanceof LineTooLongError)) return stop(error);
        // The rest of the body is not read; this last answer follows those before it.
        req.removeAllListeners('data');
        pending.push({ text: `${JSON.stringify({ error: `push is larger than ${limits.peerBodyBytesMax} bytes`, status: 413 })}\n` });
        lastRead = true;
        tooLong = true;
      }
      reading = false;
      writeOut();
    });
    req.on('end', () => {
      lastRead = true;
      writeOut();
    });
    req.on('error', () => {
      res.destroy();
      stop();
    });
    res.on('close', () => {
      if (!finished) stop();
    });
  });
}
