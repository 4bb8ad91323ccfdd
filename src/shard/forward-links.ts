import { performance } from 'node:perf_hooks';
import { forwardStreamPath, type ForwardRequestFrame } from '../../events/forward-frames.ts';
import { shardPaths } from '../../events/shard-messages.ts';
import type { Address } from '../../events/ids.ts';
import type { KvsAnswer } from '../http/kvs-routes.ts';
import { isPlainObject } from '../../events/parse-event.ts';
import { ForwardStream } from './forward-stream.ts';
import { forwardedHeader, ShardCallError, type ShardClient } from './shard-client.ts';

export interface ForwardLinksOptions {
  readonly client: ShardClient;
  /** How long one forwarded request may take at the member that serves it. */
  readonly answerTimeoutMs: number;
  /** Most bytes of one answer line (a client's answer: its value and metadata). */
  readonly lineBytesMax: number;
}

/**
 * A stream is ended (the next request opens another) this long after it opened: well inside the
 * member's `server.requestTimeout` (30 s), which would otherwise cut it.
 */
const streamLifetimeMs = 10_000;
/** A stream with nothing sent for this long is ended, so idle links hold no exchange open. */
const streamIdleMs = 5_000;
/** A member that answered the stream with 404 or 405 (an older version) gets one HTTP request per forwarded request for this long. */
const streamRetryAfterMs = 60_000;
/** Most requests waiting on one stream: bounds what a slow member makes this node hold. */
const inFlightMax = 4096;

/**
 * How this node forwards client requests to the members of other shards: on one forward stream per
 * member (forward-stream.ts), or, to a member without the stream route, as one HTTP request each.
 * Holds at most one stream per member of the map, and ends the idle ones.
 */
export class ForwardLinks {
  private readonly streams = new Map<Address, ForwardStream>();
  private readonly unsupportedUntil = new Map<Address, number>();
  private readonly idleTimer: NodeJS.Timeout;

  constructor(private readonly options: ForwardLinksOptions) {
    this.idleTimer = setInterval(() => this.endIdle(), streamIdleMs);
    this.idleTimer.unref();
  }

  async send(member: Address, request: Omit<ForwardRequestFrame, 'id'>): Promise<KvsAnswer> {
    if (performance.now() < (this.unsupportedUntil.get(member) ?? 0)) return this.sendAsRequest(member, request);
    const stream = this.streamTo(member);
    try {
      return await stream.send(request);
    } catch (error) {
      if (stream.status !== 404 && stream.status !== 405) throw error;
      // No stream route: an older sharded node, or a node that runs unsharded (restarted without
      // finding its map). The latter would take the request as its own: nothing is sent to it.
      if (!(await this.isSharded(member))) throw new ShardCallError(`${member} does not run as a node of a sharded store`, stream.status, true);
      this.unsupportedUntil.set(member, performance.now() + streamRetryAfterMs);
      return this.sendAsRequest(member, request);
    }
  }

  private async isSharded(member: Address): Promise<boolean> {
    try {
      const state = await this.options.client.call(member, 'GET', shardPaths.map, undefined, this.options.answerTimeoutMs, (body) => body);
      return isPlainObject(state) && state.map !== null && state.map !== undefined;
    } catch {
      return false;
    }
  }

  close(): void {
    clearInterval(this.idleTimer);
    for (const stream of this.streams.values()) stream.destroy('closing');
    this.streams.clear();
  }

  private streamTo(member: Address): ForwardStream {
    let stream = this.streams.get(member);
    if (stream?.usable && performance.now() - stream.openedAt > streamLifetimeMs) stream.end();
    if (stream === undefined || !stream.usable) {
      stream = new ForwardStream(this.options.client.openStream(member, forwardStreamPath), {
        lineBytesMax: this.options.lineBytesMax,
        answerTimeoutMs: this.options.answerTimeoutMs,
        connectTimeoutMs: this.options.client.connectTimeoutMs,
        inFlightMax,
      });
      this.streams.set(member, stream);
    }
    return stream;
  }

  private endIdle(): void {
    const now = performance.now();
    for (const [member, stream] of this.streams) {
      if (!stream.usable) this.streams.delete(member);
      else if (stream.inFlight === 0 && now - stream.lastSendAt >= streamIdleMs) stream.end();
    }
  }

  /** The request as a plain HTTP request of its own, as a client would have sent it. */
  private async sendAsRequest(member: Address, request: Omit<ForwardRequestFrame, 'id'>): Promise<KvsAnswer> {
    const headers: Record<string, string> = { [forwardedHeader]: String(request.hops) };
    if (request.metadataHeader !== undefined) headers['x-causal-metadata'] = request.metadataHeader;
    const answer = await this.options.client.request(member, request.method, `/kvs/${encodeURIComponent(request.key)}`, request.body, headers, this.options.answerTimeoutMs);
    if (!isPlainObject(answer.body)) throw new ShardCallError(`${member}: the answer is not a JSON object (HTTP ${answer.status})`, answer.status, false);
    return { status: answer.status, body: answer.body };
  }
}
