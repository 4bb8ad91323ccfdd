import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import type { Limits } from '../../events/limits.ts';
import { parsePushStreamAnswer, type PushReply, type PushRequest } from '../../events/peer-messages.ts';
import type { Outcome } from '../../events/peer-rpc.ts';
import { LineSplitter } from './line-splitter.ts';

export const pushStreamPath = '/internal/event-stream';

export interface PushStreamOptions {
  readonly limits: Limits;
  /** How long a push may wait for its answer; past it the stream is given up, with every push on it. */
  readonly answerTimeoutMs: number;
  /** Most pushes awaiting their answers on one stream (the core keeps one in flight per peer). */
  readonly inFlightMax: number;
}

interface InFlight {
  readonly settle: (outcome: Outcome<PushReply>) => void;
  readonly deadline: number;
}

/**
 * One long-lived `POST /internal/event-stream` to one peer: each push is a JSON line of the request
 * body, each answer a JSON line of the response body, in the same order. It exists because got spends
 * about 170 us of CPU setting up each request (measured against node:http, same keep-alive socket),
 * more than the receiver spends applying a batch: here that cost is paid once per stream.
 *
 * Failure is all-or-nothing: an error, an early end, a bad answer or an answer overdue fails every
 * push waiting on the stream, with a reason, and the stream is destroyed; the caller opens a new one.
 */
export class PushStream {
  private readonly inFlight: InFlight[] = [];
  private readonly lines: LineSplitter;
  private failure: string | undefined;
  private ending = false;
  private timer: NodeJS.Timeout | undefined;
  /** The status the peer answered with, once its headers arrived. */
  status: number | undefined;
  readonly openedAt = performance.now();
  lastSendAt = this.openedAt;

  constructor(
    private readonly exchange: Duplex,
    private readonly options: PushStreamOptions,
  ) {
    this.lines = new LineSplitter(options.limits.peerBodyBytesMax);
    exchange.on('response', (response: { statusCode: number }) => {
      this.status = response.statusCode;
      if (response.statusCode !== 200) this.fail(`HTTP ${response.statusCode}`);
    });
    exchange.on('data', (chunk: Buffer) => this.onData(chunk));
    exchange.on('error', (error: unknown) => this.fail(describeError(error)));
    // After our end(), the peer ends its answer once every push has been answered; earlier, it lost them.
    exchange.on('end', () => this.fail('push stream ended by the peer'));
    exchange.on('close', () => this.fail('push stream closed'));
  }

  /** Takes new pushes: not failed, not ending. */
  get usable(): boolean {
    return this.failure === undefined && !this.ending;
  }

  get waiting(): number {
    return this.inFlight.length;
  }

  send(request: PushRequest): Promise<Outcome<PushReply>> {
    if (!this.usable) return Promise.resolve({ ok: false, reason: this.failure ?? 'push stream is ending' });
    if (this.inFlight.length >= this.options.inFlightMax) return Promise.resolve({ ok: false, reason: 'too many pushes in flight on one stream' });
    this.lastSendAt = performance.now();
    return new Promise((settle) => {
      this.inFlight.push({ settle, deadline: this.lastSendAt + this.options.answerTimeoutMs });
      if (this.inFlight.length === 1) this.armTimer();
      this.exchange.write(`${JSON.stringify(request)}\n`);
    });
  }

  /** No more pushes: the pushes waiting still get their answers, then the exchange ends. */
  end(): void {
    if (!this.usable) return;
    this.ending = true;
    this.exchange.end();
  }

  destroy(reason: string): void {
    this.fail(reason);
  }

  private onData(chunk: Buffer): void {
    let lines: string[];
    try {
      lines = this.lines.push(chunk);
    } catch (error) {
      this.fail(describeError(error));
      return;
    }
    for (const line of lines) {
      const waiting = this.inFlight.shift();
      if (waiting === undefined) {
        this.fail('the peer answered a push that was never sent');
        return;
      }
      let outcome: Outcome<PushReply>;
      try {
        const answer = parsePushStreamAnswer(JSON.parse(line), this.options.limits);
        outcome = 'reply' in answer ? { ok: true, reply: answer.reply } : { ok: false, reason: `HTTP ${answer.status}: ${answer.error}` };
      } catch (error) {
        waiting.settle({ ok: false, reason: `bad answer on the push stream: ${describeError(error)}` });
        this.fail('bad answer on the push stream');
        return;
      }
      waiting.settle(outcome);
    }
    if (lines.length > 0) this.armTimer();
  }

  /** One timer, for the oldest push waiting: answers come in order, so it is always the first due. */
  private armTimer(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const oldest = this.inFlight[0];
    if (oldest === undefined || this.failure !== undefined) return;
    this.timer = setTimeout(() => this.fail('ETIMEDOUT'), Math.max(0, oldest.deadline - performance.now()));
  }

  private fail(reason: string): void {
    if (this.failure !== undefined) return;
    this.failure = reason;
    clearTimeout(this.timer);
    for (const waiting of this.inFlight.splice(0)) waiting.settle({ ok: false, reason });
    this.exchange.destroy();
  }
}

export function describeError(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const { code, message } = error as { code?: unknown; message?: unknown };
    if (typeof code === 'string' && code !== 'ERR_GOT_REQUEST_ERROR') return code;
    if (typeof message === 'string') return message.slice(0, 200);
  }
  return String(error).slice(0, 200);
}
