import { parseAddress, type Address } from './ids.ts';
import type { Limits } from './limits.ts';
import {
  parseHealthReply,
  parsePushReply,
  parsePushRequest,
  parseSnapshotChunk,
  parseViewChangeOrigin,
  viewChangeOriginField,
  type HealthReply,
  type PushReply,
  type PushRequest,
  type SnapshotChunk,
  type ViewChangeOrigin,
} from './peer-messages.ts';
import { isPlainObject } from './parse-event.ts';
import { ValidationError } from './validation-error.ts';

/** `GET /internal/snapshot`: chunk `index` of the snapshot `snapshotId`, or a new snapshot's first chunk. */
export interface SnapshotPull {
  readonly snapshotId?: string;
  readonly index: number;
}

/** `PUT /view` and `DELETE /view`: `origin` is set when a replica (not a client) sends it. */
export interface ViewChangeRequest {
  readonly address: Address;
  readonly origin?: ViewChangeOrigin;
}

export interface ViewChangeReply {
  readonly result: string;
}

/**
 * Every replica-to-replica exchange, by name: what is asked and what is answered. Adding a message
 * is a line here and an entry in `peerRpcs`; the compiler then asks for it in the core's handling
 * (Replica.onReply) and the node's dispatch (ReplicaNode.handle).
 */
export interface PeerRpcTypes {
  push: { request: PushRequest; reply: PushReply };
  'snapshot-push': { request: SnapshotChunk; reply: PushReply };
  'snapshot-pull': { request: SnapshotPull; reply: SnapshotChunk };
  probe: { request: Record<string, never>; reply: HealthReply };
  'view-add': { request: ViewChangeRequest; reply: ViewChangeReply };
  'view-delete': { request: ViewChangeRequest; reply: ViewChangeReply };
}

export type RpcName = keyof PeerRpcTypes;
export type RequestOf<K extends RpcName> = PeerRpcTypes[K]['request'];
export type ReplyOf<K extends RpcName> = PeerRpcTypes[K]['reply'];

/** A message one replica sends another: the wire union. */
export type PeerMessage = { [K in RpcName]: { readonly rpc: K; readonly request: RequestOf<K> } }[RpcName];
/** The answer to any PeerMessage. */
export type PeerReply = ReplyOf<RpcName>;

/** How a request to a peer ended, as the sender saw it; `status` when the peer answered with an HTTP error. */
export type Outcome<Reply> = { readonly ok: true; readonly reply: Reply } | { readonly ok: false; readonly reason: string; readonly status?: number };

/** A message together with how it ended: what the sender's core is told. */
export type PeerExchange = {
  [K in RpcName]: { readonly rpc: K; readonly request: RequestOf<K>; readonly outcome: Outcome<ReplyOf<K>> };
}[RpcName];

/** What travels over HTTP for one request: the path with its query, and the JSON body if any. */
export interface HttpRequestForm {
  readonly path: string;
  readonly body?: unknown;
}

/** What the receiving side has of a request: its query parameters and parsed JSON body. */
export interface HttpRequestInput {
  readonly query: Readonly<Record<string, unknown>>;
  readonly body: unknown;
}

export interface PeerRpc<K extends RpcName> {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** The route, without a query. */
  readonly path: string;
  /** Needs the cluster token (every `/internal` route and the view changes). */
  readonly guarded: boolean;
  /** `/view` is shared with clients and has a route of its own (view-routes.ts); every other rpc gets one made from this table. */
  readonly route: 'from-table' | 'view';
  /** Which of the node's timeouts bounds it: probes are timed apart so a silent peer is noticed soon. */
  readonly timeout: 'probe' | 'request';
  encode(request: RequestOf<K>): HttpRequestForm;
  parseRequest(input: HttpRequestInput, limits: Limits): RequestOf<K>;
  parseReply(input: unknown, limits: Limits): ReplyOf<K>;
}

function requestBody(input: HttpRequestInput): Record<string, unknown> {
  if (input.body === undefined) return {};
  if (!isPlainObject(input.body)) throw new ValidationError('Request body must be a JSON object');
  return input.body;
}

function parseViewChange(input: HttpRequestInput, limits: Limits): ViewChangeRequest {
  const body = requestBody(input);
  const address = parseAddress(body['socket-address']);
  const origin = parseViewChangeOrigin(body[viewChangeOriginField], limits);
  return origin === undefined ? { address } : { address, origin };
}

function encodeViewChange(request: ViewChangeRequest): HttpRequestForm {
  return { path: '/view', body: { 'socket-address': request.address, ...(request.origin === undefined ? {} : { [viewChangeOriginField]: request.origin }) } };
}

function parseViewChangeReply(input: unknown): ViewChangeReply {
  if (!isPlainObject(input) || typeof input.result !== 'string') throw new ValidationError('view change reply must hold a result');
  return { result: input.result };
}

/** The one table of peer RPCs: the HTTP client, the Koa routes and the simulated network all read it. */
export const peerRpcs: { readonly [K in RpcName]: PeerRpc<K> } = {
  push: {
    route: 'from-table',
    method: 'POST',
    path: '/internal/events',
    guarded: true,
    timeout: 'request',
    encode: (request) => ({ path: '/internal/events', body: request }),
    parseRequest: (input, limits) => parsePushRequest(input.body, limits),
    parseReply: parsePushReply,
  },
  'snapshot-push': {
    route: 'from-table',
    method: 'POST',
    path: '/internal/snapshot',
    guarded: true,
    timeout: 'request',
    encode: (request) => ({ path: '/internal/snapshot', body: request }),
    parseRequest: (input, limits) => parseSnapshotChunk(input.body, limits),
    parseReply: parsePushReply,
  },
  'snapshot-pull': {
    route: 'from-table',
    method: 'GET',
    path: '/internal/snapshot',
    guarded: true,
    timeout: 'request',
    encode: (request) => ({
      path: request.snapshotId === undefined ? '/internal/snapshot' : `/internal/snapshot?id=${encodeURIComponent(request.snapshotId)}&index=${request.index}`,
    }),
    parseRequest: (input) => {
      const id = input.query.id;
      if (id === undefined) return { index: 0 };
      if (typeof id !== 'string' || id.length === 0 || id.length > 64) throw new ValidationError('id must be a short string');
      const index = Number(input.query.index);
      if (!Number.isSafeInteger(index) || index < 0) throw new ValidationError('index must be an integer >= 0');
      return { snapshotId: id, index };
    },
    parseReply: parseSnapshotChunk,
  },
  probe: {
    route: 'from-table',
    method: 'GET',
    path: '/health',
    guarded: false,
    timeout: 'probe',
    encode: () => ({ path: '/health' }),
    parseRequest: () => ({}),
    parseReply: parseHealthReply,
  },
  'view-add': {
    route: 'view',
    method: 'PUT',
    path: '/view',
    guarded: true,
    timeout: 'request',
    encode: encodeViewChange,
    parseRequest: parseViewChange,
    parseReply: parseViewChangeReply,
  },
  'view-delete': {
    route: 'view',
    method: 'DELETE',
    path: '/view',
    guarded: true,
    timeout: 'request',
    encode: encodeViewChange,
    parseRequest: parseViewChange,
    parseReply: parseViewChangeReply,
  },
};

/** The table's entry for a message, typed by the message's own rpc (TypeScript cannot correlate the two alone). */
export function rpcOf(message: PeerMessage): PeerRpc<RpcName> {
  return peerRpcs[message.rpc] as unknown as PeerRpc<RpcName>;
}

/** Pairs a message with its outcome for the core; the outcome's reply was parsed by the same rpc's parseReply. */
export function exchangeOf(message: PeerMessage, outcome: Outcome<PeerReply>): PeerExchange {
  return { rpc: message.rpc, request: message.request, outcome } as PeerExchange;
}
