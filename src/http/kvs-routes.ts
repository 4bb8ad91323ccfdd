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
import { bodyObject } from './body.ts';

const metadataField = 'causal-metadata';
const metadataHeader = 'x-causal-metadata';

/**
 * The key of `/kvs/<key>`. Only a PUT refuses a key over the limit (docs/API.md's only row for it): to
 * GET and DELETE such a key simply does not exist, a 404 like any other missing key.
 */
export function keyOf(ctx: Context, limits: Limits, refuseTooLong = false): string {
  let key = ctx.path.slice('/kvs/'.length);
  if (key.includes('%')) {
    try {
      key = decodeURIComponent(key);
    } catch {
      throw new ValidationError('Key is not valid percent-encoding');
    }
  }
  if (key.length === 0) throw new ValidationError('Key is empty');
  // Characters are code points; a string no longer than the limit in UTF-16 units cannot have more.
  if (refuseTooLong && key.length > limits.keyLengthMax && [...key].length > limits.keyLengthMax) throw new ValidationError('Key is too long');
  return key;
}

/** The client's metadata: the body field wins; the X-Causal-Metadata header is the fallback. */
function metadataOf(ctx: Context, body: Record<string, unknown>, limits: Limits): VectorClock {
  if (metadataField in body) return parseCausalMetadata(body[metadataField], limits.clockEntriesMax);
  const header = ctx.get(metadataHeader);
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

type KvsHandler = (ctx: Context) => Promise<void>;

/** The node answers through a callback (so the simulation runs it with no promises); a request awaits it. */
function answered<T>(ask: (done: (answer: Answer<T>) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => ask((answer) => (answer.ok ? resolve(answer.value) : reject(answer.error))));
}

/** `/kvs/<key>`: exactly the statuses and bodies of docs/API.md. */
function kvsHandlers(host: NodeHost, limits: Limits): Record<'GET' | 'PUT' | 'DELETE', KvsHandler> {
  return {
    PUT: async (ctx) => {
      const key = keyOf(ctx, limits, true);
      const body = bodyObject(ctx);
      const value = valueOf(body, limits);
      const metadata = metadataOf(ctx, body, limits);
      const result = await answered<WriteResult | undefined>((done) => host.node.write(key, value, metadata, done));
      if (result === undefined) throw new InvariantViolation('a put made no event');
      const existed = result.previous?.type === 'put';
      ctx.status = existed ? 200 : 201;
      ctx.body = { result: existed ? 'replaced' : 'created', [metadataField]: formatCausalMetadata(result.metadata) };
    },

    GET: async (ctx) => {
      const key = keyOf(ctx, limits);
      const metadata = metadataOf(ctx, bodyObject(ctx), limits);
      const { found, metadata: after } = await answered<ReadResult>((done) => host.node.read(key, metadata, done));
      if (found === undefined) {
        ctx.status = 404;
        ctx.body = { error: 'Key does not exist', [metadataField]: formatCausalMetadata(after) };
        return;
      }
      ctx.status = 200;
      ctx.body = { result: 'found', value: found.type === 'put' ? found.value : null, [metadataField]: formatCausalMetadata(after) };
    },

    DELETE: async (ctx) => {
      const key = keyOf(ctx, limits);
      const metadata = metadataOf(ctx, bodyObject(ctx), limits);
      const result = await answered<WriteResult | undefined>((done) => host.node.write(key, undefined, metadata, done));
      if (result === undefined) {
        ctx.status = 404;
        ctx.body = { error: 'Key does not exist', [metadataField]: formatCausalMetadata(host.node.core.read(key, metadata).metadata) };
        return;
      }
      ctx.status = 200;
      ctx.body = { result: 'deleted', [metadataField]: formatCausalMetadata(result.metadata) };
    },
  };
}

/**
 * Client key-value requests go straight to their handler, before the router: the router tests
 * every route's pattern on every request, and /kvs/ is nearly all the traffic. Other methods on
 * /kvs/ (HEAD, POST, ...) fall through to the router, which answers them as before (HEAD as GET,
 * the rest 405 with an Allow header), from the same handlers.
 */
export function kvsRoutes(router: Router, host: NodeHost, limits: Limits): Middleware {
  const handlers = kvsHandlers(host, limits);
  router.put(kvsPath, handlers.PUT);
  router.get(kvsPath, handlers.GET);
  router.delete(kvsPath, handlers.DELETE);
  return (ctx, next) => {
    if (!ctx.path.startsWith('/kvs/')) return next();
    if (ctx.method === 'GET') return handlers.GET(ctx);
    if (ctx.method === 'PUT') return handlers.PUT(ctx);
    if (ctx.method === 'DELETE') return handlers.DELETE(ctx);
    return next();
  };
}

const kvsPath = /^\/kvs\/.*/;
