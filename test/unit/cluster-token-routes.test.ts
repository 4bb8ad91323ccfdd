// The cluster token guards every replica-to-replica route: each route of the /internal router, as
// listed by the router itself (so a route added later is covered without touching this file), and
// PUT and DELETE /view. Each refuses a request without the token, or with a wrong one, with 403 and
// the same body (an /internal route before reading its body); the client API and GET /view need no token.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rawRequest, routersOf, startInProcessApp, type InProcessApp, type RawAnswer } from '../support/in-process.ts';

const token = 's3cret-token';
const refusedText = '{"error":"This endpoint needs the cluster token"}';
const json = { 'content-type': 'application/json' };

let guarded: InProcessApp;
let open: InProcessApp;

test.before(async () => {
  guarded = await startInProcessApp({ env: { CLUSTER_TOKEN: token } });
  open = await startInProcessApp();
});

test.after(async () => {
  await guarded.close();
  await open.close();
});

interface Route {
  readonly method: string;
  readonly path: string;
}

/** Every method and path the app's routers registered; HEAD comes with each GET. */
function routesOf(app: InProcessApp): Route[] {
  const layers = routersOf(app.app).flatMap((router) => router.stack);
  return layers.flatMap((layer) => layer.methods.map((method: string) => ({ method, path: String(layer.path) })));
}

/** The routes that must need the token: all under /internal, and the view changes. */
function guardedRoutes(app: InProcessApp): Route[] {
  const routes = routesOf(app);
  const internal = routes.filter((route) => /^\/internal(\/|$)/i.test(route.path));
  const viewChanges = routes.filter((route) => route.path === '/view' && (route.method === 'PUT' || route.method === 'DELETE'));
  return [...internal, ...viewChanges];
}

/** The route's method on `path` (its own unless told), with `body` unless it is a GET or HEAD. */
function send(app: InProcessApp, route: Route, headers: Record<string, string> = {}, { path = route.path, body = '{}' } = {}): Promise<RawAnswer> {
  const hasBody = route.method !== 'GET' && route.method !== 'HEAD';
  return rawRequest(app.port, { method: route.method, path, headers: { ...json, ...headers }, ...(hasBody ? { body } : {}) });
}

test('the router lists every route under /internal, and PUT and DELETE /view', () => {
  const routes = guardedRoutes(guarded).map((route) => `${route.method} ${route.path}`);
  for (const expected of ['POST /internal/events', 'POST /internal/event-stream', 'POST /internal/snapshot', 'GET /internal/snapshot', 'HEAD /internal/snapshot', 'PUT /view', 'DELETE /view']) {
    assert.ok(routes.includes(expected), `${expected} should be among ${routes.join(', ')}`);
  }
  for (const route of guardedRoutes(guarded)) assert.ok(!/[:(*]/.test(route.path), `${route.path}: this test sends the path as it is, so it must be literal`);
});

test('every guarded route refuses a missing or wrong token with 403 and the same JSON body', async () => {
  const wrongTokens: Record<string, string>[] = [
    {},
    { 'x-cluster-token': '' },
    { 'x-cluster-token': 'wrong' },
    { 'x-cluster-token': token.slice(0, -1) },
    { 'x-cluster-token': `${token}x` },
    { 'x-cluster-token': token.toUpperCase() },
  ];
  for (const route of guardedRoutes(guarded)) {
    for (const headers of wrongTokens) {
      const answer = await send(guarded, route, headers);
      const what = `${route.method} ${route.path} with ${JSON.stringify(headers)}`;
      assert.is(answer.status, 403, `${what}: got ${answer.status} ${answer.text}`);
      assert.is(answer.text, route.method === 'HEAD' ? '' : refusedText, what);
      if (route.method !== 'HEAD') assert.match(String(answer.headers['content-type']), /^application\/json/, what);
    }
  }
});

test('no other spelling of a guarded path reaches its route without the token', async () => {
  for (const route of guardedRoutes(guarded)) {
    for (const path of [`${route.path}/`, route.path.toUpperCase(), route.path.replace('/internal', '/Internal'), `${route.path}?x=1`]) {
      const answer = await send(guarded, route, {}, { path });
      assert.ok(answer.status === 403 || answer.status === 404, `${route.method} ${path}: got ${answer.status} ${answer.text}`);
      if (route.method !== 'HEAD') assert.ok(answer.text === refusedText || /^\{"error":"No such endpoint/.test(answer.text), `${route.method} ${path}: ${answer.text}`);
    }
  }
});

test('an /internal route refuses before it reads the body: a body that is not JSON gets the 403, not a 400', async () => {
  for (const route of guardedRoutes(guarded).filter((r) => r.path.startsWith('/internal') && r.method === 'POST')) {
    const answer = await send(guarded, route, {}, { body: '{not json' });
    assert.equal([answer.status, answer.text], [403, refusedText], `${route.method} ${route.path}`);
  }
});

test('with the right token every guarded route is let through to its handler', async () => {
  for (const route of guardedRoutes(guarded)) {
    const answer = await send(guarded, route, { 'x-cluster-token': token }, { body: '{not json' });
    assert.is.not(answer.status, 403, `${route.method} ${route.path}: ${answer.text}`);
    // Past the guard the body is read: the one that is not JSON is refused as such.
    if (route.method !== 'GET' && route.method !== 'HEAD' && route.path !== '/internal/event-stream') {
      assert.is(answer.status, 400, `${route.method} ${route.path}: ${answer.text}`);
      assert.match(answer.text, /not valid JSON/);
    }
  }
});

test('without a cluster token configured the same routes need none', async () => {
  const routes = guardedRoutes(open);
  assert.ok(routes.length >= 7);
  for (const route of routes) {
    const answer = await send(open, route);
    assert.is.not(answer.status, 403, `${route.method} ${route.path}: ${answer.text}`);
  }
});

test('the client API, GET /view and GET /health need no token', async () => {
  const port = guarded.port;
  const created = await rawRequest(port, { method: 'PUT', path: '/kvs/x', headers: json, body: '{"value":1}' });
  assert.is(created.status, 201, created.text);
  const metadata = (JSON.parse(created.text) as Record<string, unknown>)['causal-metadata'];
  const read = await rawRequest(port, { method: 'GET', path: '/kvs/x', headers: json, body: JSON.stringify({ 'causal-metadata': metadata }) });
  assert.is(read.status, 200, read.text);
  assert.is((JSON.parse(read.text) as { value: unknown }).value, 1);
  const deleted = await rawRequest(port, { method: 'DELETE', path: '/kvs/x', headers: json, body: JSON.stringify({ 'causal-metadata': metadata }) });
  assert.is(deleted.status, 200, deleted.text);
  const view = await rawRequest(port, { method: 'GET', path: '/view' });
  assert.equal([view.status, view.text], [200, '{"view":["127.0.0.1:1"]}']);
  const health = await rawRequest(port, { method: 'GET', path: '/health' });
  assert.is(health.status, 200, health.text);
});

test.run();
