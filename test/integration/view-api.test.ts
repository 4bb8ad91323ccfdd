// Every row of the SPEC's /view table, plus the view behaviour the course requires of replicas:
// a replica found down is removed from the views, and one restarted at its address rejoins.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startCluster, startReplica, stopAll, type ReplicaProcess } from '../support/cluster.ts';
import { get, getView, put, request, waitFor } from '../support/http.ts';
import { addressesFor, clusterFormed, expectAnswer, expectError, expectResult, unusedAddress } from './common.ts';

const seed = 'view-api';
const addresses = addressesFor(seed, 22);
const [A, B, C] = addresses as [string, string, string];
const nobody = unusedAddress(seed, 22);
const replicas: ReplicaProcess[] = [];

const sorted = (list: readonly string[]) => [...list].sort();

test.before(async () => {
  replicas.push(...(await startCluster(addresses)));
  await clusterFormed(addresses);
});

test.after(async () => {
  await stopAll(replicas);
});

test('GET /view answers 200 {"view": [...]} with all three replicas at every replica', async () => {
  for (const replica of addresses) {
    const answer = await request('GET', replica, '/view');
    assert.is(answer.status, 200);
    assert.equal(Object.keys(answer.body), ['view'], JSON.stringify(answer.body));
    assert.equal(sorted(answer.body.view), sorted(addresses), `view at ${replica}`);
  }
});

test('PUT /view of a member answers 200 already present and changes nothing', async () => {
  expectAnswer(await request('PUT', A, '/view', { 'socket-address': B }), 200, { result: 'already present' });
  expectAnswer(await request('PUT', A, '/view', { 'socket-address': A }), 200, { result: 'already present' }, 'itself');
  assert.equal(sorted(await getView(A)), sorted(addresses));
});

test('PUT /view of a new address answers 201 added; DELETE answers 200 deleted, then 404 "View has no such replica"', async () => {
  // `nobody` listens there, so the failure detector may drop it by itself after a while: act promptly.
  expectAnswer(await request('PUT', A, '/view', { 'socket-address': nobody }), 201, { result: 'added' }, 'PUT');
  assert.ok((await getView(A)).includes(nobody), 'added address is in the view');
  expectAnswer(await request('DELETE', A, '/view', { 'socket-address': nobody }), 200, { result: 'deleted' }, 'DELETE');
  assert.not.ok((await getView(A)).includes(nobody), 'deleted address is gone from the view');
  expectAnswer(await request('DELETE', A, '/view', { 'socket-address': nobody }), 404, { error: 'View has no such replica' }, 'DELETE again');
  assert.equal(sorted(await getView(A)), sorted(addresses));
});

test('DELETE /view of an address never in the view is 404 "View has no such replica"', async () => {
  expectAnswer(await request('DELETE', B, '/view', { 'socket-address': '127.0.22.201:1' }), 404, { error: 'View has no such replica' });
});

test('an unreachable address put in the view is removed by the failure detector by itself', async () => {
  expectAnswer(await request('PUT', B, '/view', { 'socket-address': nobody }), 201, { result: 'added' });
  await waitFor('the unreachable replica to leave B\'s view', async () => !(await getView(B)).includes(nobody), 10_000);
  assert.equal(sorted(await getView(B)), sorted(addresses));
});

test('/view with a body that names no socket address is a 4xx JSON error and changes nothing', async () => {
  expectError(await request('PUT', A, '/view', {}), 'PUT without socket-address');
  expectError(await request('PUT', A, '/view', { 'socket-address': 'not an address' }), 'PUT with garbage');
  expectError(await request('DELETE', A, '/view', { 'socket-address': 42 }), 'DELETE with a number');
  expectError(await request('PUT', A, '/view', undefined, { rawBody: '{"socket-address": ' }), 'PUT with broken JSON');
  assert.equal(sorted(await getView(A)), sorted(addresses));
});

test('a replica that goes down is removed from every view; restarted at its address it rejoins with the data', async () => {
  const m = expectResult(await put(A, 'before-crash', 'kept'), 201, 'created');
  const c = replicas.find((replica) => replica.address === C)!;
  await c.kill('SIGKILL');
  await waitFor('A and B to drop C', async () => !(await getView(A)).includes(C) && !(await getView(B)).includes(C), 10_000);
  const m2 = expectResult(await put(B, 'while-down', 'written', m), 201, 'created');

  replicas.push(await startReplica({ address: C, view: addresses }));
  await waitFor(
    'every view to hold all three again',
    async () => {
      for (const replica of addresses) if (sorted(await getView(replica)).join() !== sorted(addresses).join()) return false;
      return true;
    },
    10_000,
  );
  expectResult(await get(C, 'before-crash', m2), 200, 'found', 'old key at restarted C', 'kept');
  expectResult(await get(C, 'while-down', m2), 200, 'found', 'key written while C was down', 'written');
});

test.run();
