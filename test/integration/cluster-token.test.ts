// CLUSTER_TOKEN: replicas replicate among themselves with it (pushes on the push stream included),
// clients use /kvs without it, and replica-to-replica endpoints refuse a request that lacks it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { stopAll, type ReplicaProcess } from '../support/cluster.ts';
import { get, put, request } from '../support/http.ts';
import { addressesFor, clusterFormed, expectResult, startCluster } from './common.ts';

const addresses = addressesFor('cluster-token', 29);
const [A, B, C] = addresses as [string, string, string];
const token = 's3cret-token';
let replicas: ReplicaProcess[] = [];

test.before(async () => {
  replicas = await startCluster(addresses, { CLUSTER_TOKEN: token });
  await clusterFormed(addresses);
});

test.after(async () => {
  await stopAll(replicas);
});

test('replicas holding the token replicate: a write at A is served by B and C', async () => {
  const written = expectResult(await put(A, 'x', 'with-token'), 201, 'created');
  for (const address of [B, C]) expectResult(await get(address, 'x', written), 200, 'found', address, 'with-token');
});

test('replica-to-replica endpoints answer 403 without the token or with a wrong one', async () => {
  const push = { from: A, incarnation: 'zz', events: [] };
  const refused = { error: 'This endpoint needs the cluster token' };
  for (const headers of [{}, { 'x-cluster-token': 'wrong' }] as Record<string, string>[]) {
    const events = await request('POST', B, '/internal/events', push, { headers });
    assert.equal([events.status, events.body], [403, refused]);
    const stream = await request('POST', B, '/internal/event-stream', undefined, { headers, rawBody: `${JSON.stringify(push)}\n` });
    assert.equal([stream.status, stream.body], [403, refused]);
    const snapshot = await request('GET', B, '/internal/snapshot', undefined, { headers });
    assert.equal([snapshot.status, snapshot.body], [403, refused]);
  }
  const withToken = await request('POST', B, '/internal/events', push, { headers: { 'x-cluster-token': token } });
  assert.is(withToken.status, 200);
  assert.is(withToken.body.type, 'accepted');
});

// Every route, as the router lists it, is covered in process by test/unit/cluster-token-routes.test.ts.
test('view changes need the token; reading the view, /health and /kvs do not', async () => {
  const refused = { error: 'This endpoint needs the cluster token' };
  const stranger = { 'socket-address': '127.0.29.200:9' };
  for (const headers of [{}, { 'x-cluster-token': 'wrong' }] as Record<string, string>[]) {
    for (const method of ['PUT', 'DELETE']) {
      const answer = await request(method, B, '/view', stranger, { headers });
      assert.equal([answer.status, answer.body], [403, refused], `${method} /view with ${JSON.stringify(headers)}`);
    }
  }
  const view = await request('GET', B, '/view');
  assert.is(view.status, 200);
  assert.equal([...view.body.view].sort(), [...addresses].sort(), 'the refused view changes changed nothing');
  assert.is((await request('GET', B, '/health')).status, 200);
  const written = expectResult(await put(B, 'no-token', 1), 201, 'created');
  expectResult(await get(B, 'no-token', written), 200, 'found', B, 1);
});

test.run();
