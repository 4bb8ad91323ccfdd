import { Agent } from 'node:http';
import got, { type Got } from 'got';
import type { Address } from '../../events/ids.ts';
import type { Limits } from '../../events/limits.ts';
import {
  parseHealthReply,
  parsePushReply,
  parseSnapshotChunk,
  viewChangeOriginField,
  type HealthReply,
  type PushReply,
  type PushRequest,
  type SnapshotChunk,
  type ViewChangeOrigin,
} from '../../events/peer-messages.ts';
import type { Outcome } from '../core/actions.ts';

export interface PeerClientOptions {
  readonly limits: Limits;
  readonly sourceAddress: string | undefined;
  readonly connectTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly probeTimeoutMs: number;
  readonly clusterToken: string | undefined;
}

export const clusterTokenHeader = 'x-cluster-token';

/**
 * Replica-to-replica HTTP, with got: keep-alive, no retries (the protocol retries), short connect
 * timeouts so a cut link is noticed promptly. Every call resolves to an Outcome, never throws.
 */
export class PeerClient {
  private readonly http: Got;
  private readonly agent: Agent;

  constructor(private readonly options: PeerClientOptions) {
    this.agent = new Agent({ keepAlive: true, noDelay: true, maxSockets: 16, maxFreeSockets: 4, scheduling: 'lifo' });
    this.http = got.extend({
      agent: { http: this.agent },
      ...(options.sourceAddress === undefined ? {} : { localAddress: options.sourceAddress }),
      retry: { limit: 0 },
      throwHttpErrors: false,
      followRedirect: false,
      responseType: 'json',
      timeout: { connect: options.connectTimeoutMs, request: options.requestTimeoutMs },
      headers: options.clusterToken === undefined ? {} : { [clusterTokenHeader]: options.clusterToken },
    });
  }

  close(): void {
    this.agent.destroy();
  }

  private async call<Reply>(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    to: Address,
    path: string,
    body: unknown,
    parse: (input: unknown) => Reply,
    timeoutMs = this.options.requestTimeoutMs,
  ): Promise<Outcome<Reply>> {
    try {
      const response = await this.http(`http://${to}${path}`, {
        method,
        ...(body === undefined ? {} : { json: body }),
        timeout: { connect: this.options.connectTimeoutMs, request: timeoutMs },
      });
      if (response.statusCode !== 200 && response.statusCode !== 201) {
        return { ok: false, reason: `HTTP ${response.statusCode}` };
      }
      return { ok: true, reply: parse(response.body) };
    } catch (error) {
      return { ok: false, reason: describeError(error) };
    }
  }

  push(to: Address, request: PushRequest): Promise<Outcome<PushReply>> {
    return this.call('POST', to, '/internal/events', request, (body) => parsePushReply(body, this.options.limits));
  }

  pushSnapshotChunk(to: Address, chunk: SnapshotChunk): Promise<Outcome<PushReply>> {
    return this.call('POST', to, '/internal/snapshot', chunk, (body) => parsePushReply(body, this.options.limits));
  }

  fetchSnapshotChunk(from: Address, snapshotId: string | undefined, index: number, timeoutMs: number): Promise<Outcome<SnapshotChunk>> {
    const query = snapshotId === undefined ? '' : `?id=${encodeURIComponent(snapshotId)}&index=${index}`;
    return this.call('GET', from, `/internal/snapshot${query}`, undefined, (body) => parseSnapshotChunk(body, this.options.limits), timeoutMs);
  }

  probe(to: Address): Promise<Outcome<HealthReply>> {
    return this.call('GET', to, '/health', undefined, (body) => parseHealthReply(body, this.options.limits), this.options.probeTimeoutMs);
  }

  /** `PUT /view` (self-announcement) or `DELETE /view` (failure broadcast), with our identity attached. */
  changeView(method: 'PUT' | 'DELETE', to: Address, address: Address, origin: ViewChangeOrigin): Promise<Outcome<unknown>> {
    return this.call(method, to, '/view', { 'socket-address': address, [viewChangeOriginField]: origin }, (body) => body);
  }
}

function describeError(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const { code, message } = error as { code?: unknown; message?: unknown };
    if (typeof code === 'string' && code !== 'ERR_GOT_REQUEST_ERROR') return code;
    if (typeof message === 'string') return message.slice(0, 200);
  }
  return String(error).slice(0, 200);
}
