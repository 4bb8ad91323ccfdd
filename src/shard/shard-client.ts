import { Agent, request as httpRequest, type ClientRequest } from 'node:http';
import type { Address } from '../../events/ids.ts';
import { clusterTokenHeader } from '../transport/http-transport.ts';
import { jsonRequest, JsonHttpError } from '../transport/json-http.ts';

export interface ShardClientOptions {
  readonly sourceAddress: string | undefined;
  readonly connectTimeoutMs: number;
  readonly clusterToken: string | undefined;
  /** The largest answer body read, in bytes (the peers' bound: a map, a page of a reshard's export). */
  readonly answerBytesMax: number;
}

/** A node did not answer, or answered with an error status: what a caller tries the next member on. */
export class ShardCallError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    /** The request never reached the node (refused, unreachable, no connection in time): safe to send elsewhere. */
    readonly notSent = false,
  ) {
    super(message);
  }
}

/** An answer relayed as it came: status and parsed JSON body. */
export interface RelayedAnswer {
  readonly status: number;
  readonly body: unknown;
}

/** Marks a request one node forwarded to another, with how many hops it made (a node with an older map may forward once more). */
export const forwardedHeader = 'x-kvs-forwarded';

/**
 * Node-to-node HTTP of a sharded store (src/shard/): the control messages of events/shard-messages.ts
 * and client requests forwarded to the shard that holds their key. Keep-alive, no retries (callers
 * try the next member), a short connect timeout so a dead member is passed over quickly.
 *
 * Plain node:http (transport/json-http.ts), not got, which cost about 4 times the CPU per request.
 */
export class ShardClient {
  private readonly agent = new Agent({ keepAlive: true, noDelay: true, maxSockets: 64, maxFreeSockets: 16, scheduling: 'lifo' });
  /** Forward streams: one connection each, closed with its stream. */
  private readonly streamAgent = new Agent({ keepAlive: false, noDelay: true });
  private readonly options: ShardClientOptions;

  constructor(options: ShardClientOptions) {
    this.options = options;
  }

  /** How long a connection may take before the node is passed over. */
  get connectTimeoutMs(): number {
    return this.options.connectTimeoutMs;
  }

  close(): void {
    this.agent.destroy();
    this.streamAgent.destroy();
  }

  /**
   * A long-lived POST to `to` whose body and answer are JSON lines (the forward stream): its headers
   * are sent at once, the body is written by the caller. A connection of its own, not the pool's.
   */
  openStream(to: Address, path: string): ClientRequest {
    const [host, port] = splitAddress(to);
    const { sourceAddress, clusterToken } = this.options;
    const exchange = httpRequest({
      host,
      port,
      method: 'POST',
      path,
      agent: this.streamAgent,
      ...(sourceAddress === undefined ? {} : { localAddress: sourceAddress }),
      headers: {
        accept: 'application/x-ndjson',
        'content-type': 'application/x-ndjson',
        ...(clusterToken === undefined ? {} : { [clusterTokenHeader]: clusterToken }),
      },
    });
    exchange.flushHeaders();
    return exchange;
  }

  /** One control message; its 2xx answer parsed by `parse`, anything else a ShardCallError. */
  async call<T>(to: Address, method: 'GET' | 'PUT' | 'POST', path: string, body: unknown, timeoutMs: number, parse: (input: unknown) => T): Promise<T> {
    const answer = await this.request(to, method, path, body, {}, timeoutMs);
    if (answer.status < 200 || answer.status > 299) {
      const error = typeof answer.body === 'object' && answer.body !== null && 'error' in answer.body ? String(answer.body.error) : `HTTP ${answer.status}`;
      throw new ShardCallError(`${to}${path}: ${error}`, answer.status);
    }
    return parse(answer.body);
  }

  /**
   * A request answered with any status (a forwarded client request: its answer is relayed as it
   * is); no answer at all, or one that is not JSON, throws. GET and DELETE carry their causal
   * metadata in a JSON body too (docs/API.md), so any method may have a body.
   */
  async request(to: Address, method: string, path: string, body: unknown, headers: Record<string, string>, timeoutMs: number): Promise<RelayedAnswer> {
    const { sourceAddress, clusterToken, connectTimeoutMs, answerBytesMax } = this.options;
    try {
      return await jsonRequest(to, method, path, body, {
        agent: this.agent,
        sourceAddress,
        connectTimeoutMs,
        timeoutMs,
        answerBytesMax,
        headers: { ...(clusterToken === undefined ? {} : { [clusterTokenHeader]: clusterToken }), ...headers },
      });
    } catch (error) {
      if (error instanceof JsonHttpError) throw new ShardCallError(error.message, error.status, error.notSent);
      throw error;
    }
  }
}

/** "IP:PORT" as host and port (the address was validated when it entered the view or the map). */
function splitAddress(address: Address): [string, number] {
  const colon = address.lastIndexOf(':');
  return [address.slice(0, colon), Number(address.slice(colon + 1))];
}
