import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Registry } from 'prom-client';
import { RequestStats } from '../../src/observability/request-stats.ts';

async function scrape(stats: RequestStats): Promise<string[]> {
  const registry = new Registry();
  stats.register(registry, 'reqs_total', 'requests', 'req_seconds', 'latency');
  return (await registry.metrics()).split('\n');
}

test('requests are counted by method, route and status', async () => {
  const stats = new RequestStats([0.01, 0.1]);
  stats.observe('GET', '/kvs/:key', 200, 0.001);
  stats.observe('GET', '/kvs/:key', 200, 0.002);
  stats.observe('GET', '/kvs/:key', 404, 0.003);
  const lines = await scrape(stats);
  assert.ok(lines.includes('# TYPE reqs_total counter'));
  assert.ok(lines.includes('reqs_total{method="GET",route="/kvs/:key",status="200"} 2'), lines.join('\n'));
  assert.ok(lines.includes('reqs_total{method="GET",route="/kvs/:key",status="404"} 1'));
});

test('latency buckets are cumulative, with +Inf, sum and count, by method and route', async () => {
  const stats = new RequestStats([0.01, 0.1]);
  stats.observe('PUT', '/kvs/:key', 201, 0.005);
  stats.observe('PUT', '/kvs/:key', 200, 0.01); // on a bound: counted in that bucket (le)
  stats.observe('PUT', '/kvs/:key', 200, 0.05);
  stats.observe('PUT', '/kvs/:key', 503, 2);
  const lines = await scrape(stats);
  assert.ok(lines.includes('# TYPE req_seconds histogram'));
  assert.ok(lines.includes('req_seconds_bucket{le="0.01",method="PUT",route="/kvs/:key"} 2'), lines.join('\n'));
  assert.ok(lines.includes('req_seconds_bucket{le="0.1",method="PUT",route="/kvs/:key"} 3'));
  assert.ok(lines.includes('req_seconds_bucket{le="+Inf",method="PUT",route="/kvs/:key"} 4'));
  assert.ok(lines.includes('req_seconds_count{method="PUT",route="/kvs/:key"} 4'));
  const sum = lines.find((line) => line.startsWith('req_seconds_sum{method="PUT",route="/kvs/:key"}'));
  assert.ok(sum !== undefined && Math.abs(Number(sum.split(' ')[1]) - 2.065) < 1e-9, sum);
});

test.run();
