import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { formatCausalMetadata, parseCausalMetadata } from '../../events/causal-metadata.ts';
import type { JsonValue } from '../../events/json-value.ts';
import { checkValue, valueDepthMax } from '../../events/parse-event.ts';
import type { Limits } from '../../events/limits.ts';
import { ValidationError } from '../../events/validation-error.ts';
import type { VectorClock } from '../../events/vector-clock.ts';
import { InvariantViolation } from '../core/assert.ts';
import type { ReadResult, WriteResult } from '../core/replica.ts';
import type { Answer } from '../node/replica-node.ts';
import type { NodeHost } from '../node/node-host.ts';
import { objectOf, requestBody } from './body.ts';

const metadataField = 'causal-metadata';
const metadataHeader = 'x-causal-metadata';

/**
 * The key of `/kvs/<key>`, decoded and not empty. Its length is serveKvs's check: only a PUT refuses
 * a key over the limit (docs/API.md's only row for it); to GET and DELETE such a key simply does not
 * exist, a 404 like any other missing key.
 */
export function keyOf(ctx: Context): string {
  let key = ctx.path.slice('/kvs/'.length);
  if (key.includes('%')) {
    try {
      key = decodeURIComponent(key);
    } catch {
      throw new ValidationError('Key is not valid percent-encoding');
    }
  }
  if (key.length === 0) throw new ValidationError('Key is empty');
  return key;
}

/** The client's metadata: the body field wins; the X-Causal-Metadata header is the fallback. */
function metadataOf(request: KvsRequest, body: Record<string, unknown>, limits: Limits): VectorClock {
  if (metadataField in body) return parseCausalMetadata(body[metadataField], limits.clockEntriesMax);
  const header = request.metadataHeader;
  return parseCausalMetadata(header === '' ? undefined : header, limits.clockEntriesMax);
}

function valueOf(body: Record<string, unknown>, limits: Limits): JsonValue {
  const value = body.value;
  if (value === undefined || value === null) throw new ValidationError('PUT request does not specify a value');
  checkValue(value, valueDepthMax);
  const bytes = Buffer.byteLength(JSON.stringify(value));
  if (bytes > limits.valueBytesMax) throw new ValidationError(`Value is too large (${bytes} > ${limits.valueBytesMax} bytes)`, 413);
  return value as JsonValue;
}

/** The node answers through a callback (so the simulation runs it with no promises); a request awaits it. */
function answered<T>(ask: (done: (answer: Answer<T>) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => ask((answer) => (answer.ok ? resolve(answer.value) : reject(answer.error))));
}

/** A `/kvs/<key>` request as the store sees it, whether it came over HTTP or on a forward stream (src/shard/). */
export interface KvsRequest {
  /** HEAD is asked as a GET (its answer is the GET's, without the body). */
  readonly method: 'GET' | 'PUT' | 'DELETE';
  /** Decoded (keyOf), not empty; its length is checked here (a PUT refuses a key over the limit). */
  readonly key: string;
  /** The parsed JSON body, `{}` when there was none; anything else than an object is refused. */
  readonly body: unknown;
  /** The X-Causal-Metadata header ('' when absent), used when the body has no metadata. */
  readonly metadataHeader: string;
}

export interface KvsAnswer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

/** The methods of /kvs/<key> a KvsRequest has (HEAD comes as GET). */
export const kvsMethods: ReadonlySet<string> = new Set(['GET', 'PUT', 'DELETE']);

/**
 * `/kvs/<key>`: exactly the statuses and bodies of docs/API.md; a refusal is thrown (an
 * ExpectedError, answered by errorAnswer). The checks run in the order the contract's answers
 * assume: key, body, value, metadata, then `admit` (a sharded node's 503 while a reshard moves the
 * key: bad input is a 400 first, whatever the store is doing).
 */
export async function serveKvs(host: NodeHost, limits: Limits, request: KvsRequest, admit?: () => void): Promise<KvsAnswer> {
  const { key } = request;
  switch (request.method) {
    case 'PUT': {
      // Characters are code points; a string no longer than the limit in UTF-16 units cannot have more.
      if (key.length > limits.keyLengthMax && [...key].length > limits.keyLengthMax) throw new ValidationError('Key is too long');
      const body = objectOf(request.body);
      const value = valueOf(body, limits);
      const metadata = metadataOf(request, body, limits);
      admit?.();
      const result = await answered<WriteResult | undefined>((done) => host.node.write(key, value, metadata, done));
      if (result === undefined) throw new InvariantViolation('a put made no event');
      const existed = result.previous?.type === 'put';
      return { status: existed ? 200 : 201, body: { result: existed ? 'replaced' : 'created', [metadataField]: formatCausalMetadata(result.metadata) } };
    }
    case 'GET': {
      const metadata = metadataOf(request, objectOf(request.body), limits);
      admit?.();
      const { found, metadata: after } = await answered<ReadResult>((done) => host.node.read(key, metadata, done));
      if (found === undefined) return { status: 404, body: { error: 'Key does not exist', [metadataField]: formatCausalMetadata(after) } };
      return { status: 200, body: { result: 'found', value: found.type === 'put' ? found.value : null, [metadataField]: formatCausalMetadata(after) } };
    }
    case 'DELETE': {
      const metadata = metadataOf(request, objectOf(request.body), limits);
      admit?.();
      const result = await answered<WriteResult | undefined>((done) => host.node.write(key, undefined, metadata, done));
      if (result === undefined) {
        return { status: 404, body: { error: 'Key does not exist', [metadataField]: formatCausalMetadata(host.node.core.read(key, metadata).metadata) } };
      }
      return { status: 200, body: { result: 'deleted', [metadataField]: formatCausalMetadata(result.metadata) } };
    }
  }
}

/** The request of `ctx` (already routed to /kvs/ with one of kvsMethods, or HEAD). */
export function kvsRequestOf(ctx: Context): KvsRequest {
  const method = ctx.method === 'HEAD' ? 'GET' : (ctx.method as KvsRequest['method']);
  return { method, key: keyOf(ctx), body: requestBody(ctx) ?? {}, metadataHeader: ctx.get(metadataHeader) };
}

type KvsHandler = (ctx: Context) => Promise<void>;

function kvsHandler(host: NodeHost, limits: Limits): KvsHandler {
  return async (ctx) => {
    const answer = await serveKvs(host, limits, kvsRequestOf(ctx));
    ctx.status = answer.status;
    ctx.body = answer.body;
  };
}

/**
 * Client key-value requests go straight to their handler, before the router: the router tests
 * every route's pattern on every request, and /kvs/ is nearly all the traffic. Other methods on
 * /kvs/ (HEAD, POST, ...) fall through to the router, which answers them as before (HEAD as GET,
 * the rest 405 with an Allow header), from the same handlers.
 */
export function kvsRoutes(router: Router, host: NodeHost, limits: Limits): Middleware {
  const handler = kvsHandler(host, limits);
  router.put(kvsPath, handler);
  router.get(kvsPath, handler);
  router.delete(kvsPath, handler);
  return (ctx, next) => {
    if (!ctx.path.startsWith('/kvs/') || !kvsMethods.has(ctx.method)) return next();
    return handler(ctx);
  };
}

const kvsPath = /^\/kvs\/.*/;
