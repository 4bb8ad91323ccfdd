import type { ClientRequest, IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import { parseForwardAnswer, type ForwardRequestFrame } from '../../events/forward-frames.ts';
import type { KvsAnswer } from '../http/kvs-routes.ts';
import { LineSplitter } from '../transport/line-splitter.ts';
import { describeError } from '../transport/push-stream.ts';
import { ShardCallError } from './shard-client.ts';

export interface ForwardStreamOptions {
  /** Most bytes of one answer line. */
  readonly lineBytesMax: number;
  /** How long a request may wait for its answer; past it the stream is given up, with every request on it. */
  readonly answerTimeoutMs: number;
  /** How long the connection may take. */
  readonly connectTimeoutMs: number;
  /** Most requests awaiting their answers on one stream; more are refused (the caller tries elsewhere or answers 503). */
  readonly inFlightMax: number;
}

interface Waiting {
  readonly resolve: (answer: KvsAnswer) => void;
  readonly reject: (error: ShardCallError) => void;
  readonly deadline: number;
}

/**
 * One long-lived `POST /internal/shard/forward-stream` to one member of another shard, carrying
 * the client requests this node forwards there (events/forward-frames.ts), each answered by id.
 *
 * Why not one HTTP request per forwarded request: that is a second full HTTP exchange per client
 * request, paid on both nodes, and with many clients forwarding cost more than replication saved
 * (2 x 3 nodes against 1 x 6, scripts/bench-sharding.mjs). Here the requests that arrive in one turn
 * of the event loop leave in one write, and their answers come back the same way.
 *
 * Failure is all-or-nothing: an error, an early end, a bad answer or an answer overdue fails every
 * request waiting, and the stream is destroyed; the caller opens a new one. A request is reported
 * `notSent` (safe to send elsewhere, a write included) only when the connection was never made or
 * the member refused the stream itself (a status other than 200: nothing on it was served).
 */
export class ForwardStream {
  private readonly waiting = new Map<number, Waiting>();
  private readonly lines: LineSplitter;
  private nextId = 0;
  private outgoing: string[] = [];
  private flushScheduled = false;
  private connected = false;
  private failure: string | undefined;
  private ending = false;
  private timer: NodeJS.Timeout | undefined;
  private connectTimer: NodeJS.Timeout | undefined;
  /** The status the member answered with, once its headers arrived. */
  status: number | undefined;
  readonly openedAt = performance.now();
  lastSendAt = this.openedAt;

  constructor(
    private readonly exchange: ClientRequest,
    private readonly options: ForwardStreamOptions,
  ) {
    this.lines = new LineSplitter(options.lineBytesMax);
    exchange.on('socket', (socket) => {
      if (!socket.connecting) {
        this.connected = true;
        return;
      }
      this.connectTimer = setTimeout(() => this.fail(`no connection within ${options.connectTimeoutMs} ms`), options.connectTimeoutMs);
      socket.once('connect', () => {
        this.connected = true;
        clearTimeout(this.connectTimer);
      });
    });
    exchange.on('response', (response: IncomingMessage) => {
      this.status = response.statusCode;
      if (response.statusCode !== 200) {
        this.fail(`HTTP ${response.statusCode}`);
        return;
      }
      response.on('data', (chunk: Buffer) => this.onData(chunk));
      response.on('error', (error) => this.fail(describeError(error)));
      // After our end(), the member ends its answer once every request has been answered; earlier, it lost them.
      response.on('end', () => this.fail('forward stream ended by the member'));
    });
    exchange.on('error', (error: unknown) => this.fail(describeError(error)));
    exchange.on('close', () => this.fail('forward stream closed'));
  }

  /** Takes new requests: not failed, not ending. */
  get usable(): boolean {
    return this.failure === undefined && !this.ending;
  }

  get inFlight(): number {
    return this.waiting.size;
  }

  send(request: Omit<ForwardRequestFrame, 'id'>): Promise<KvsAnswer> {
    if (!this.usable) return Promise.reject(new ShardCallError(this.failure ?? 'forward stream is ending', undefined, true));
    if (this.waiting.size >= this.options.inFlightMax) return Promise.reject(new ShardCallError('too many forwarded requests in flight to one member', undefined, true));
    this.lastSendAt = performance.now();
    const id = this.nextId++;
    return new Promise<KvsAnswer>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject, deadline: this.lastSendAt + this.options.answerTimeoutMs });
      if (this.waiting.size === 1) this.armTimer();
      this.outgoing.push(`${JSON.stringify({ id, ...request })}\n`);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** No more requests: those waiting still get their answers, then the exchange ends. */
  end(): void {
    if (!this.usable) return;
    this.ending = true;
    if (!this.flushScheduled) this.exchange.end();
  }

  destroy(reason: string): void {
    this.fail(reason);
  }

  /** The lines of one turn of the event loop, in one write. */
  private flush(): void {
    this.flushScheduled = false;
    if (this.failure !== undefined) return;
    const text = this.outgoing.join('');
    this.outgoing = [];
    if (text !== '') this.exchange.write(text);
    if (this.ending) this.exchange.end();
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
      let answer;
      try {
        answer = parseForwardAnswer(JSON.parse(line));
      } catch (error) {
        this.fail(`bad answer on the forward stream: ${describeError(error)}`);
        return;
      }
      const waiting = this.waiting.get(answer.id);
      if (waiting === undefined) {
        this.fail('the member answered a request that was never sent');
        return;
      }
      this.waiting.delete(answer.id);
      waiting.resolve({ status: answer.status, body: answer.body });
    }
    if (lines.length > 0) this.armTimer();
  }

  /** One timer, for the oldest request waiting (a Map keeps the order they were sent in, which is their deadlines' order). */
  private armTimer(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const oldest = this.waiting.values().next();
    if (oldest.done === true || this.failure !== undefined) return;
    this.timer = setTimeout(() => this.fail(`no answer within ${this.options.answerTimeoutMs} ms`), Math.max(0, oldest.value.deadline - performance.now()));
  }

  private fail(reason: string): void {
    if (this.failure !== undefined) return;
    this.failure = reason;
    clearTimeout(this.timer);
    clearTimeout(this.connectTimer);
    // Never connected, or refused as a whole (an older member without the route, a wrong token): nothing was served.
    const notSent = !this.connected || (this.status !== undefined && this.status !== 200);
    const waiting = [...this.waiting.values()];
    this.waiting.clear();
    for (const request of waiting) request.reject(new ShardCallError(reason, this.status, notSent));
    this.exchange.destroy();
  }
}
