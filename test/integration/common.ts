// Shared bits for the integration suites: one 3-replica cluster per file on its own loopback
// addresses and ports, and small assertions on answers.
import * as assert from 'uvu/assert';
import { portBase, startCluster, startReplica, type ReplicaProcess } from '../support/cluster.ts';
import { getView, waitFor, type Answer } from '../support/http.ts';

/** Three loopback addresses for one test file: 127.0.<subnet>.1..3 on ports from portBase(seed). */
export function addressesFor(seed: string, subnet: number, count = 3): string[] {
  const port = portBase(seed);
  return Array.from({ length: count }, (_, i) => `127.0.${subnet}.${i + 1}:${port + i}`);
}

/** An address on this file's subnet that nobody listens on. */
export function unusedAddress(seed: string, subnet: number): string {
  return `127.0.${subnet}.200:${portBase(seed) + 9}`;
}

export { startCluster, startReplica, type ReplicaProcess };

/**
 * Waits until every replica's view holds exactly `addresses`. A replica answers /health before its
 * announcement (PUT /view) has reached the others, and a replica that started first may have dropped
 * peers that were not up yet, so right after start-up the views can briefly differ.
 */
export async function clusterFormed(addresses: readonly string[], timeoutMs = 10_000): Promise<void> {
  const want = [...addresses].sort().join(',');
  await waitFor(
    `every view to be ${want}`,
    async () => {
      for (const address of addresses) if ([...(await getView(address))].sort().join(',') !== want) return false;
      return true;
    },
    timeoutMs,
  );
}

export const deps503 = { error: 'Causal dependencies not satisfied; try again later' };
export const keyMissing = { error: 'Key does not exist' };

/** Metadata naming a replica life that never existed: well-formed, never satisfied. */
export const unsatisfiable = { '127.0.0.9:9/abc': 5 };

export function isMetadata(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Status and whole body must match; on failure the message shows the answer. */
export function expectAnswer(answer: Answer, status: number, body: unknown, what = ''): void {
  assert.is(answer.status, status, `${what} status: got ${answer.status} ${JSON.stringify(answer.body)}`);
  assert.equal(answer.body, body, `${what} body: got ${JSON.stringify(answer.body)}`);
}

/** Status, result and value match, and causal-metadata is an object; returns that metadata. */
export function expectResult(answer: Answer, status: number, result: string, what = '', value?: unknown): Record<string, unknown> {
  assert.is(answer.status, status, `${what} status: got ${answer.status} ${JSON.stringify(answer.body)}`);
  assert.is(answer.body?.result, result, `${what} result: got ${JSON.stringify(answer.body)}`);
  if (value !== undefined) assert.equal(answer.body.value, value, `${what} value: got ${JSON.stringify(answer.body)}`);
  const metadata = answer.body['causal-metadata'];
  assert.ok(isMetadata(metadata), `${what} causal-metadata should be an object: got ${JSON.stringify(answer.body)}`);
  const expectedKeys = result === 'found' ? ['causal-metadata', 'result', 'value'] : ['causal-metadata', 'result'];
  assert.equal(Object.keys(answer.body).sort(), expectedKeys, `${what} fields: got ${JSON.stringify(answer.body)}`);
  return metadata;
}

/** A 4xx with exactly {"error": "<non-empty string>"}. */
export function expectError(answer: Answer, what: string, status?: number): void {
  assert.ok(answer.status >= 400 && answer.status < 500, `${what}: expected a 4xx, got ${answer.status} ${JSON.stringify(answer.body)}`);
  if (status !== undefined) assert.is(answer.status, status, `${what}: got ${answer.status} ${JSON.stringify(answer.body)}`);
  assert.ok(isMetadata(answer.body), `${what}: body should be a JSON object, got ${JSON.stringify(answer.body)}`);
  assert.equal(Object.keys(answer.body), ['error'], `${what}: body should be {"error": ...}, got ${JSON.stringify(answer.body)}`);
  const error: unknown = answer.body.error;
  assert.ok(typeof error === 'string' && error.length > 0, `${what}: error should be a non-empty string`);
}
