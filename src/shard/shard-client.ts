import { Agent } from 'node:http';
import got, { type Got } from 'got';
import type { Address } from '../../events/ids.ts';
import { clusterTokenHeader } from '../transport/http-transport.ts';

export interface ShardClientOptions {
  readonly sourceAddress: string | undefined;
  readonly connectTimeoutMs: number;
  readonly clusterToken: string | undefined;
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

const notSentCodes = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ENOTFOUND']);

function wasNotSent(error: unknown): boolean {
  const { code, event } = error as { code?: string; event?: string };
  return (code !== undefined && notSentCodes.has(code)) || event === 'connect' || event === 'lookup';
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
 */
export class ShardClient {
  private readonly agent = new Agent({ keepAlive: true, noDelay: true, maxSockets: 64, maxFreeSockets: 16, scheduling: 'lifo' });
  private readonly http: Got;

  constructor(options: ShardClientOptions) {
    this.http = got.extend({
      agent: { http: this.agent },
      ...(options.sourceAddress === undefined ? {} : { localAddress: options.sourceAddress }),
      retry: { limit: 0 },
      throwHttpErrors: false,
      followRedirect: false,
      responseType: 'json',
      headers: options.clusterToken === undefined ? {} : { [clusterTokenHeader]: options.clusterToken },
      timeout: { connect: options.connectTimeoutMs },
    });
  }

  close(): void {
    this.agent.destroy();
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

  /** A request answered with any status (a forwarded client request: its answer is relayed as it is); no answer at all throws. */
  async request(to: Address, method: string, path: string, body: unknown, headers: Record<string, string>, timeoutMs: number): Promise<RelayedAnswer> {
    try {
      const response = await this.http(`http://${to}${path}`, {
        method: method as 'GET',
        headers,
        timeout: { request: timeoutMs },
        // GET and DELETE carry their causal metadata in a body too (docs/API.md): got allows it with allowGetBody.
        allowGetBody: true,
        ...(body === undefined ? {} : { json: body }),
      });
      return { status: response.statusCode, body: response.body };
    } catch (error) {
      throw new ShardCallError(`${to}${path}: ${(error as Error).message}`, undefined, wasNotSent(error));
    }
  }
}
