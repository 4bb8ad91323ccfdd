import { Agent } from 'node:http';
import { performance } from 'node:perf_hooks';
import got, { type Got } from 'got';
import type { Address } from '../../events/ids.ts';
import type { Limits } from '../../events/limits.ts';
import type { PushReply, PushRequest } from '../../events/peer-messages.ts';
import { rpcOf, type Outcome, type PeerMessage, type PeerReply } from '../../events/peer-rpc.ts';
import type { Transport } from '../node/transport.ts';
import { jsonRequest } from './json-http.ts';
import { describeError, PushStream, pushStreamPath } from './push-stream.ts';

export interface HttpTransportOptions {
  readonly limits: Limits;
  readonly sourceAddress: string | undefined;
  readonly connectTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly probeTimeoutMs: number;
  readonly clusterToken: string | undefined;
  /** How long one push stream is used before the next push opens another (default 10 s). */
  readonly pushStreamLifetimeMs?: number;
}

export const clusterTokenHeader = 'x-cluster-token';

/**
 * A push stream is ended (and a new one opened for the next push) this long after it opened: well
 * inside the receiver's `server.requestTimeout` (30 s), which would otherwise cut it.
 */
const defaultPushStreamLifetimeMs = 10_000;
/** A push stream with nothing sent for this long is ended, so idle links hold no exchange open. */
const pushStreamIdleMs = 5_000;
/** A peer that answered the push stream with 404 or 405 (an older version) gets one request per push for this long. */
const pushStreamRetryAfterMs = 60_000;
/** The core keeps one push in flight per peer; this only bounds a shell that would not. */
const pushStreamInFlightMax = 64;

/**
 * Replica-to-replica HTTP: keep-alive, no retries (the protocol retries), short connect timeouts so
 * a cut link is noticed promptly. Requests are made as the rpc table (events/peer-rpc.ts)
 * describes them; pushes travel on one long-lived stream per peer (see push-stream.ts). Every send
 * is answered with an Outcome, never a throw.
 */
export class HttpTransport implements Transport {
  /** Requests other than pushes: plain node:http (json-http.ts), cheaper than got per request. */
  private readonly headers: Readonly<Record<string, string>>;
  /** Push streams: got's stream API (one request per stream, so its cost per request matters little). */
  private readonly streamHttp: Got;
  private readonly agent: Agent;
  private readonly pushStreams = new Map<Address, PushStream>();
  private readonly pushStreamUnsupportedUntil = new Map<Address, number>();
  private readonly idleSweep: NodeJS.Timeout;

  constructor(private readonly options: HttpTransportOptions) {
    this.agent = new Agent({ keepAlive: true, noDelay: true, maxSockets: 16, maxFreeSockets: 4, scheduling: 'lifo' });
    this.streamHttp = got.extend({
      agent: { http: this.agent },
      ...(options.sourceAddress === undefined ? {} : { localAddress: options.sourceAddress }),
      retry: { limit: 0 },
      throwHttpErrors: false,
      followRedirect: false,
      decompress: false,
      // Only connecting is timed here: a push stream's answers are timed one by one (PushStream).
      timeout: { connect: options.connectTimeoutMs },
      headers: options.clusterToken === undefined ? {} : { [clusterTokenHeader]: options.clusterToken },
    });
    this.headers = options.clusterToken === undefined ? {} : { [clusterTokenHeader]: options.clusterToken };
    this.idleSweep = setInterval(() => this.endIdlePushStreams(), pushStreamIdleMs);
    this.idleSweep.unref();
  }

  close(): void {
    clearInterval(this.idleSweep);
    for (const stream of this.pushStreams.values()) stream.destroy('closing');
    this.pushStreams.clear();
    this.agent.destroy();
  }

  /** The Transport's one entry: pushes go on the peer's push stream, everything else as one request of its rpc. */
  send(to: Address, message: PeerMessage, timeoutMs: number | undefined, done: (outcome: Outcome<PeerReply>) => void): void {
    const outcome = message.rpc === 'push' ? this.push(to, message.request) : this.call(to, message, timeoutMs);
    void outcome.then(done);
  }

  /** One HTTP request as the rpc table describes it; every failure is an Outcome, never a throw. */
  private async call(to: Address, message: PeerMessage, timeoutMs: number | undefined): Promise<Outcome<PeerReply>> {
    const rpc = rpcOf(message);
    const form = rpc.encode(message.request);
    const rpcTimeoutMs = rpc.timeout === 'probe' ? this.options.probeTimeoutMs : this.options.requestTimeoutMs;
    try {
      const response = await jsonRequest(to, rpc.method, form.path, form.body, {
        agent: this.agent,
        sourceAddress: this.options.sourceAddress,
        connectTimeoutMs: this.options.connectTimeoutMs,
        timeoutMs: Math.min(rpcTimeoutMs, timeoutMs ?? rpcTimeoutMs),
        answerBytesMax: this.options.limits.peerBodyBytesMax,
        headers: this.headers,
      });
      if (response.status !== 200 && response.status !== 201) {
        return { ok: false, reason: `HTTP ${response.status}`, status: response.status };
      }
      return { ok: true, reply: rpc.parseReply(response.body, this.options.limits) };
    } catch (error) {
      return { ok: false, reason: describeError(error) };
    }
  }

  /** On the peer's push stream; one request per push to a peer that has no stream endpoint. */
  async push(to: Address, request: PushRequest): Promise<Outcome<PushReply>> {
    if (performance.now() < (this.pushStreamUnsupportedUntil.get(to) ?? 0)) return this.pushOneRequest(to, request);
    const stream = this.pushStreamTo(to);
    const outcome = await stream.send(request);
    if (!outcome.ok && (stream.status === 404 || stream.status === 405)) {
      this.pushStreamUnsupportedUntil.set(to, performance.now() + pushStreamRetryAfterMs);
      return this.pushOneRequest(to, request);
    }
    return outcome;
  }

  private pushOneRequest(to: Address, request: PushRequest): Promise<Outcome<PushReply>> {
    return this.call(to, { rpc: 'push', request }, undefined) as Promise<Outcome<PushReply>>;
  }

  /** The open push stream to `to`, or a new one in place of one failed, ending or too old. */
  private pushStreamTo(to: Address): PushStream {
    let stream = this.pushStreams.get(to);
    if (stream?.usable && performance.now() - stream.openedAt > (this.options.pushStreamLifetimeMs ?? defaultPushStreamLifetimeMs)) stream.end();
    if (stream === undefined || !stream.usable) {
      const exchange = this.streamHttp.stream.post(`http://${to}${pushStreamPath}`, { headers: { 'content-type': 'application/x-ndjson' } });
      stream = new PushStream(exchange, {
        limits: this.options.limits,
        answerTimeoutMs: this.options.requestTimeoutMs,
        inFlightMax: pushStreamInFlightMax,
      });
      this.pushStreams.set(to, stream);
    }
    return stream;
  }

  private endIdlePushStreams(): void {
    const now = performance.now();
    for (const [to, stream] of this.pushStreams) {
      if (!stream.usable) this.pushStreams.delete(to);
      else if (stream.waiting === 0 && now - stream.lastSendAt >= pushStreamIdleMs) stream.end();
    }
  }
}
