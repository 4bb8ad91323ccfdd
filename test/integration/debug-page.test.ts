// Observability against a real 3-replica cluster from the bundle: the debug page driven in headless
// Chromium (Debian's package, through playwright-core), /metrics scraped during a small load, CORS on
// the endpoints the page reads across origins, and no log line per request at the default level.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startReplica, stopAll, type ReplicaProcess } from '../support/cluster.ts';
import { del, get, put, request, waitFor } from '../support/http.ts';
import { addressesFor, expectResult, unsatisfiable } from './common.ts';

/** The little of the DOM the page checks use (they run in the browser; this project compiles without lib.dom). */
interface PageNode {
  readonly textContent: string | null;
  getAttribute(name: string): string | null;
}
declare const document: {
  querySelector(selector: string): PageNode | null;
  querySelectorAll(selector: string): ArrayLike<PageNode> & Iterable<PageNode>;
};

const addresses = addressesFor('debug-page', 26);
const [A, B, C] = addresses as [string, string, string];
const replicas: ReplicaProcess[] = [];

const chromiumPath = '/usr/bin/chromium';
const chromiumArgs = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
// The README's picture is rewritten only on request (UPDATE_SCREENSHOT=1), so a test run leaves the work tree clean.
const screenshotPath =
  process.env.UPDATE_SCREENSHOT === '1' ? fileURLToPath(new URL('../../docs/debug-page.png', import.meta.url)) : join(tmpdir(), `kvs-debug-page-${process.pid}.png`);

/** Debian's chromium: installed here when missing and we are root; otherwise a clear failure. */
function ensureChromium(): void {
  if (existsSync(chromiumPath)) return;
  if (process.getuid?.() !== 0) {
    throw new Error(`${chromiumPath} is missing: install Debian's chromium package (sudo apt-get install -y chromium) and run this test again`);
  }
  console.log(`# ${chromiumPath} is missing: installing Debian's chromium package (apt-get update; apt-get install -y chromium)`);
  for (const args of [['update', '-qq'], ['install', '-y', '-qq', 'chromium']]) {
    const result = spawnSync('apt-get', args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    if (result.status !== 0) throw new Error(`apt-get ${args.join(' ')} failed (exit ${result.status}): cannot install chromium for the debug page test`);
  }
  if (!existsSync(chromiumPath)) throw new Error(`chromium was installed but ${chromiumPath} is still missing`);
}

/** Prometheus text format, samples only: `name{labels}` → value. */
function parseMetrics(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return samples;
}

async function scrape(address: string): Promise<{ text: string; samples: Map<string, number> }> {
  const response = await fetch(`http://${address}/metrics`);
  assert.is(response.status, 200, '/metrics status');
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/, '/metrics content type');
  const text = await response.text();
  return { text, samples: parseMetrics(text) };
}

/** Sum of every sample of `name` whose labels include all of `labels`. */
function sum(samples: Map<string, number>, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const [series, value] of samples) {
    const brace = series.indexOf('{');
    if ((brace < 0 ? series : series.slice(0, brace)) !== name) continue;
    if (Object.entries(labels).every(([label, want]) => series.includes(`${label}="${want}"`))) total += value;
  }
  return total;
}

test.before(async () => {
  ensureChromium();
  replicas.push(await startReplica({ address: A, view: addresses }));
  replicas.push(await startReplica({ address: B, view: addresses }));
  // C answers an unsatisfiable read at once, so the 503 metrics can be checked without waiting.
  replicas.push(await startReplica({ address: C, view: addresses, env: { CAUSAL_WAIT_MS: '0' } }));
});

test.after(async () => {
  await stopAll(replicas);
});

test('the debug page shows the view, the peers, and new writes as log rows and as dots with delivery arrows', async () => {
  const userDataDir = mkdtempSync(join(tmpdir(), 'kvs-debug-page-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: chromiumPath,
    headless: true,
    args: chromiumArgs,
    viewport: { width: 1280, height: 900 },
  });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(`http://${A}/debug`);

    // All three replicas reached from the browser (cross-origin for B and C), both peers up.
    await page.waitForFunction(() => document.querySelectorAll('#reach .badge.up').length === 3, undefined, { timeout: 10_000 });
    await page.waitForFunction(() => document.querySelectorAll('#peers .badge.up').length >= 4, undefined, { timeout: 10_000 });
    assert.equal(await page.locator('#view li').allTextContents(), [...addresses].sort(), 'view chips');
    assert.match((await page.textContent('#self')) ?? '', A, 'header names this replica');

    // Writes at different replicas, one causal chain across them and a delete.
    const alpha = expectResult(await put(A, 'alpha', 'first'), 201, 'created', 'alpha at A');
    const bravo = expectResult(await put(B, 'bravo', { n: 2 }, alpha), 201, 'created', 'bravo at B');
    const charlie = expectResult(await put(C, 'charlie', [3], bravo), 201, 'created', 'charlie at C');
    expectResult(await del(B, 'alpha', charlie), 200, 'deleted', 'delete alpha at B');
    expectResult(await put(A, 'delta', 'after the chain', charlie), 201, 'created', 'delta at A');
    const keys = ['alpha', 'bravo', 'charlie', 'delta'];

    // Each key: a row in A's log tail, a dot on its origin's lane, an arrow to each other replica.
    await page.waitForFunction(
      (wanted) =>
        wanted.every((key) => {
          const inTail = [...document.querySelectorAll('#log-tail td.key')].some((cell) => cell.textContent === key);
          const dot = document.querySelector(`#diagram svg circle.event[data-key="${key}"]`);
          const arrows = dot === null ? 0 : document.querySelectorAll(`#diagram svg line.delivery[data-id="${dot.getAttribute('data-id')}"]`).length;
          return inTail && arrows >= 2;
        }),
      keys,
      { timeout: 15_000 },
    );
    const dots = await page.$$eval('#diagram svg circle.event', (nodes) => nodes.map((node) => ({ key: node.getAttribute('data-key'), origin: node.getAttribute('data-origin'), fill: node.getAttribute('fill') })));
    const dotOf = (key: string, origin: string) => dots.find((dot) => dot.key === key && dot.origin === origin);
    assert.ok(dotOf('alpha', A), `alpha is a dot on A's lane: ${JSON.stringify(dots)}`);
    assert.ok(dotOf('bravo', B), `bravo is a dot on B's lane: ${JSON.stringify(dots)}`);
    assert.ok(dotOf('charlie', C), `charlie is a dot on C's lane: ${JSON.stringify(dots)}`);
    assert.ok(dotOf('delta', A), `delta is a dot on A's lane: ${JSON.stringify(dots)}`);
    assert.is(dots.filter((dot) => dot.key === 'alpha' && dot.origin === B).map((dot) => dot.fill)[0], '#fff', 'the delete of alpha at B is a hollow dot');
    const tailOps = await page.$$eval('#log-tail tr[data-id]', (rows) => rows.map((row) => [...row.querySelectorAll('td')].map((cell) => cell.textContent)));
    assert.ok(tailOps.some((cells) => cells[3] === 'delete' && cells[4] === 'alpha'), `the delete is in the log tail: ${JSON.stringify(tailOps)}`);
    assert.match((await page.textContent('#clock')) ?? '', A, 'the clock lists A as an origin');
    assert.equal(pageErrors, [], 'no script errors on the page');

    // The picture for the README (kept only when asked for, see screenshotPath).
    mkdirSync(join(screenshotPath, '..'), { recursive: true });
    const picture = await page.screenshot({ path: screenshotPath, fullPage: true });
    assert.ok(picture.length > 10_000, `a screenshot of the page (${picture.length} bytes)`);
    if (process.env.UPDATE_SCREENSHOT !== '1') rmSync(screenshotPath, { force: true });
  } finally {
    await context.close();
    rmSync(userDataDir, { recursive: true, force: true });
  }
});

test('a node of a sharded store: /debug/state, the Shards card and /metrics show the map, this node\'s shard, its keys and forwarded requests', async () => {
  const sharded = addressesFor('debug-page', 26, 14).slice(10);
  const nodes: ReplicaProcess[] = [];
  const userDataDir = mkdtempSync(join(tmpdir(), 'kvs-debug-page-'));
  try {
    for (const address of sharded) nodes.push(await startReplica({ address, view: sharded, env: { SHARD_COUNT: '2' } }));
    const [first] = sharded as [string];
    let metadata: unknown = null;
    for (let i = 0; i < 20; i++) {
      const answer = await put(first, `key${i}`, i, metadata);
      assert.is(answer.status, 201, `key${i}: ${JSON.stringify(answer.body)}`);
      metadata = answer.body['causal-metadata'];
    }
    const state = (await request('GET', first, '/debug/state')).body.sharding;
    assert.is(state.epoch, 1);
    assert.equal(state.map.map((shard: { id: number }) => shard.id), [1, 2]);
    const own = state.map.find((shard: { members: string[] }) => shard.members.includes(first));
    assert.is(state.shard, own.id);
    assert.ok(state.shardKeys > 0 && state.shardKeys < 20, `this shard holds some of the 20 keys: ${state.shardKeys}`);
    assert.ok(state.forwarded > 0 && state.forwarded < 20, `the other shard's keys were forwarded: ${state.forwarded}`);
    const { samples } = await scrape(first);
    assert.is(sum(samples, 'kvs_forwarded_request_seconds_count'), state.forwarded, 'forwarded requests timed in /metrics');

    const context = await chromium.launchPersistentContext(userDataDir, { executablePath: chromiumPath, headless: true, args: chromiumArgs });
    try {
      const page = context.pages()[0] ?? (await context.newPage());
      await page.goto(`http://${first}/debug`);
      await page.waitForFunction(() => document.querySelectorAll('#shards tr').length === 3, undefined, { timeout: 10_000 });
      assert.match((await page.textContent('#shards-note')) ?? '', new RegExp(`map epoch 1 · this node: shard ${own.id}, ${state.shardKeys} keys`));
      const rows = await page.locator('#shards tr').allTextContents();
      for (const shard of state.map as { id: number; members: string[] }[]) {
        assert.ok(rows.some((text) => text.startsWith(String(shard.id)) && shard.members.every((member) => text.includes(member))), `shard ${shard.id} row: ${rows}`);
      }
    } finally {
      await context.close();
    }
  } finally {
    await stopAll(nodes);
    rmSync(userDataDir, { recursive: true, force: true });
  }
});

test('the page and its data are served with CORS only where the page needs it', async () => {
  const page = await fetch(`http://${B}/debug`);
  assert.is(page.status, 200);
  assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
  const html = await page.text();
  assert.not.match(html, /<script[^>]+src=|<link[^>]+href=/, 'no external script or style');
  for (const path of ['/debug/state', '/debug/log', '/debug/recent', '/view']) {
    const answer = await fetch(`http://${B}${path}`);
    assert.is(answer.status, 200, path);
    assert.is(answer.headers.get('access-control-allow-origin'), '*', `${path} allows any origin`);
  }
  for (const [method, path] of [['GET', '/kvs/alpha'], ['GET', '/health'], ['GET', '/metrics']] as const) {
    const answer = await fetch(`http://${B}${path}`, { method });
    assert.is(answer.headers.get('access-control-allow-origin'), null, `${method} ${path} has no CORS header`);
  }
});

test('/metrics scraped during a small load reports requests by route, latency, replication, log, pending, peers, 503s', async () => {
  const before = await scrape(A);
  const putsAtA = 40;
  let metadata: unknown = null;
  const load = (async () => {
    for (let i = 0; i < putsAtA; i++) {
      const answer = await put(A, `load-${i % 10}`, i, metadata);
      metadata = answer.body['causal-metadata'];
      await get(B, `load-${i % 10}`, metadata);
    }
  })();
  // One scrape in the middle of the load: it must answer, and the request counter must be growing.
  await waitFor('the load to be under way', async () => sum((await scrape(A)).samples, 'kvs_http_requests_total', { method: 'PUT' }) > sum(before.samples, 'kvs_http_requests_total', { method: 'PUT' }), 5000, 20);
  await load;
  const unsatisfied = await get(C, 'load-0', unsatisfiable);
  assert.is(unsatisfied.status, 503, 'an unsatisfiable read at C');

  const after = await scrape(A);
  const s = after.samples;
  const puts = (samples: Map<string, number>) => sum(samples, 'kvs_http_requests_total', { method: 'PUT', route: '/kvs/:key' });
  assert.ok(puts(s) - puts(before.samples) >= putsAtA, `PUT /kvs/:key counted: ${puts(before.samples)} -> ${puts(s)}`);
  assert.ok(sum(s, 'kvs_http_requests_total', { route: '/kvs/:key', status: '201' }) >= 10, 'created answers counted by status');
  assert.not.match(after.text, /route="\/kvs\/load/, 'no label per key');
  assert.ok(sum(s, 'kvs_http_request_duration_seconds_count', { method: 'PUT', route: '/kvs/:key' }) >= putsAtA, 'latency histogram counts the PUTs');
  assert.ok(s.has('kvs_http_request_duration_seconds_bucket{le="+Inf",method="PUT",route="/kvs/:key"}'), 'latency histogram has buckets by route');
  assert.ok(sum(s, 'kvs_replication_push_round_trip_seconds_count', { result: 'accepted' }) > 0, 'push round trips observed');
  assert.ok(sum(s, 'kvs_replication_push_round_trip_seconds_sum') > 0, 'push round trips take time');
  const acks = await waitFor('every write at A to be acknowledged by a peer push reply', async () => {
    const count = sum((await scrape(A)).samples, 'kvs_replication_write_ack_seconds_count');
    return count >= putsAtA + 2 ? count : false; // + alpha and delta from the page test
  }, 5000);
  assert.ok(acks <= sum(s, 'kvs_events_delivered_total'), 'no more acknowledged writes than events');
  for (const gauge of ['kvs_log_events', 'kvs_pending_events', 'kvs_tombstones']) {
    assert.ok(s.has(gauge) && s.get(gauge)! >= 0, `${gauge} present: ${s.get(gauge)}`);
  }
  assert.ok(s.get('kvs_live_keys')! >= 10 + 3, `live keys: ${s.get('kvs_live_keys')}`);
  assert.is(s.get('kvs_view_members'), 3, 'view members');
  // A probe can time out on a loaded machine; the links come back up.
  await waitFor('both peers up, none held down', async () => {
    const now = (await scrape(A)).samples;
    return now.get('kvs_peers_up') === 2 && now.get('kvs_peers_held_down') === 0;
  }, 10_000);
  assert.ok(s.get('kvs_events_delivered_total')! > before.samples.get('kvs_events_delivered_total')!, 'events delivered grows');
  assert.ok(s.has(`kvs_peer_lacks_events{peer="${B}"}`) && s.has(`kvs_peer_lacks_events{peer="${C}"}`), 'lag per peer');
  assert.ok(s.get('kvs_pushes_total')! > 0, 'pushes counted');
  assert.ok(s.has('process_cpu_user_seconds_total') && s.has('nodejs_heap_size_used_bytes'), 'default process metrics');

  const atC = (await scrape(C)).samples;
  assert.ok(atC.get('kvs_unsatisfied_dependencies_total')! >= 1, '503 for unsatisfied dependencies counted at C');
  assert.ok(sum(atC, 'kvs_http_requests_total', { status: '503' }) >= 1, '503 in the request counter at C');
  assert.ok(sum(atC, 'kvs_http_requests_total', { method: 'GET', route: '/kvs/:key' }) >= 1, 'GETs at C');
});

test('at the default log level a replica writes no line per request, and joins and peer changes once each', async () => {
  const lines = replicas[0]!.logs().split('\n').filter((line) => line.trim() !== '');
  const records = lines.map((line) => JSON.parse(line) as { event?: string; level: number });
  // Peer and view lines depend on timing (start-up order, a probe timing out on a loaded machine).
  const other = records.filter((r) => !['peer-down', 'peer-up', 'view-change', 'announce'].includes(r.event ?? ''));
  assert.ok(other.length <= 4, `A logged these besides peer and view changes, for ~150 requests:\n${lines.join('\n')}`);
  assert.ok(records.length < 40, `A logged ${records.length} lines for ~150 requests:\n${lines.join('\n')}`);
  assert.ok(!lines.some((line) => line.includes('/kvs/') || line.includes('/metrics')), 'no request lines');
  assert.is(records.filter((r) => r.event === 'join').length, 1, 'one join line');
  assert.is(records.filter((r) => r.event === 'listening').length, 1, 'one start line');
  assert.ok(records.every((r) => r.level >= 30), 'nothing below info');
});

test('a peer that dies and comes back is logged once down, once up, with the view changes', async () => {
  // From the kill on: at start-up A already logged C down until C was listening, and up then.
  const skip = replicas[0]!.logs().length;
  const logOfA = () =>
    replicas[0]!
      .logs()
      .slice(skip)
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as { event?: string; peer?: string; added?: string[]; removed?: string[] });
  await replicas[2]!.kill('SIGKILL');
  await waitFor('A to log C down and out of the view', () => {
    const records = logOfA();
    return records.some((r) => r.event === 'peer-down' && r.peer === C) && records.some((r) => r.event === 'view-change' && r.removed?.includes(C));
  }, 10_000);
  replicas[2] = await startReplica({ address: C, view: addresses, env: { CAUSAL_WAIT_MS: '0' } });
  await waitFor('A to log C up and back in the view', () => {
    const records = logOfA();
    return records.some((r) => r.event === 'peer-up' && r.peer === C) && records.some((r) => r.event === 'view-change' && r.added?.includes(C));
  }, 10_000);
  // One line per transition: down and up alternate (a probe timing out on a loaded machine may add a
  // pair), and so do the view changes that take C out and back in.
  const records = logOfA();
  const health = records.filter((r) => (r.event === 'peer-down' || r.event === 'peer-up') && r.peer === C).map((r) => r.event);
  assert.ok(health.length >= 2 && health.every((event, i) => event === (i % 2 === 0 ? 'peer-down' : 'peer-up')), `C down/up lines: ${health}`);
  const membership = records.filter((r) => r.event === 'view-change' && (r.removed?.includes(C) || r.added?.includes(C))).map((r) => (r.removed?.includes(C) ? 'out' : 'in'));
  assert.ok(membership.length >= 2 && membership.every((change, i) => change === (i % 2 === 0 ? 'out' : 'in')), `C view changes: ${membership}`);
});

test.run();
