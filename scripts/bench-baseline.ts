// The benchmark's baseline (`npm run bench`): the least a Koa JSON key-value server can do. The same
// stack as the store (Koa + @koa/router; bodies read by koa-bodyparser, where the store reads them
// with src/http/body.ts, which also checks UTF-8 and measured no dearer), the same /kvs/<key> body
// shapes and statuses as docs/API.md, but one process, a Map, no replication, and trivial causal
// metadata (one counter, {"baseline": n}; what the client sends is parsed with the body and
// otherwise ignored).
// scripts/bench-bundles.mjs bundles it with esbuild to dist/bench-baseline.mjs, and `npm run bench`
// (scripts/bench-servers.mjs) and bench-one-replica start it with plain node:
//   SOCKET_ADDRESS=127.0.0.1:8090 node dist/bench-baseline.mjs
import Router from '@koa/router';
import Koa from 'koa';
import bodyParser from 'koa-bodyparser';

const address = process.env.SOCKET_ADDRESS ?? '';
const parsed = /^\[?([^\]]*)\]?:(\d{1,5})$/.exec(address);
if (parsed === null) {
  process.stderr.write(`bench-baseline: SOCKET_ADDRESS must be IP:PORT, got ${JSON.stringify(address)}\n`);
  process.exit(2);
}
const host = parsed[1]!;
const port = Number(parsed[2]);

interface Entry {
  readonly value: unknown;
  readonly version: number;
}

const store = new Map<string, Entry>();
let version = 0;
const metadata = (n: number) => ({ baseline: n });

function keyOf(ctx: Koa.Context): string | undefined {
  const key = String(ctx.params.key ?? '');
  if ([...key].length > 50) {
    ctx.status = 400;
    ctx.body = { error: 'Key is too long' };
    return undefined;
  }
  return key;
}

function bodyOf(ctx: Koa.Context): Record<string, unknown> {
  const body: unknown = ctx.request.body;
  return typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
}

const app = new Koa();
const router = new Router();

// Errors as JSON, like the store (a body that is not JSON is a 400, never an HTML page).
app.use(async (ctx, next) => {
  try {
    await next();
  } catch (error) {
    const status = (error as { status?: number }).status ?? 500;
    ctx.status = status;
    ctx.body = { error: status < 500 ? 'Request body is not valid JSON' : 'Internal error' };
  }
});
app.use(bodyParser({ enableTypes: ['json'], strict: true }));

router.get('/health', (ctx) => {
  ctx.body = { status: 'ok' };
});

router.put('/kvs/:key', (ctx) => {
  const key = keyOf(ctx);
  if (key === undefined) return;
  const value = bodyOf(ctx).value;
  if (value === undefined || value === null) {
    ctx.status = 400;
    ctx.body = { error: 'PUT request does not specify a value' };
    return;
  }
  const existed = store.has(key);
  version += 1;
  store.set(key, { value, version });
  ctx.status = existed ? 200 : 201;
  ctx.body = { result: existed ? 'replaced' : 'created', 'causal-metadata': metadata(version) };
});

router.get('/kvs/:key', (ctx) => {
  const key = keyOf(ctx);
  if (key === undefined) return;
  bodyOf(ctx);
  const entry = store.get(key);
  if (entry === undefined) {
    ctx.status = 404;
    ctx.body = { error: 'Key does not exist' };
    return;
  }
  ctx.status = 200;
  ctx.body = { result: 'found', value: entry.value, 'causal-metadata': metadata(entry.version) };
});

router.delete('/kvs/:key', (ctx) => {
  const key = keyOf(ctx);
  if (key === undefined) return;
  bodyOf(ctx);
  if (!store.delete(key)) {
    ctx.status = 404;
    ctx.body = { error: 'Key does not exist' };
    return;
  }
  version += 1;
  ctx.status = 200;
  ctx.body = { result: 'deleted', 'causal-metadata': metadata(version) };
});

app.use(router.routes());
app.use(router.allowedMethods());

const server = app.listen(port, host);
// The same keep-alive settings as the store (src/main.ts).
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;
server.requestTimeout = 30_000;
server.on('error', (error) => {
  process.stderr.write(`bench-baseline: cannot listen on ${address}: ${error.message}\n`);
  process.exit(1);
});

// Exit through process.exit so `node --cpu-prof` writes its profile.
const stop = (): void => {
  server.close();
  server.closeAllConnections();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
