import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Histogram, Registry } from 'prom-client';
import { HistogramSeries, registerHistogram } from '../../src/observability/scraped-histogram.ts';

const buckets = [0.001, 0.01, 0.1];
const observations = [0.0005, 0.001, 0.004, 0.05, 3];

async function scrape(register: (registry: Registry) => void): Promise<string> {
  const registry = new Registry();
  register(registry);
  return registry.metrics();
}

test('series scrape exactly as prom-client renders its own histogram with the same observations', async () => {
  const ours = await scrape((registry) => {
    const accepted = new HistogramSeries({ result: 'accepted' }, buckets);
    const failed = new HistogramSeries({ result: 'failed' }, buckets);
    for (const seconds of observations) accepted.observe(seconds);
    failed.observe(0.02);
    registerHistogram(registry, 'rt_seconds', 'round trips', () => [accepted, failed]);
  });
  const theirs = await scrape((registry) => {
    const histogram = new Histogram({ name: 'rt_seconds', help: 'round trips', labelNames: ['result'], buckets, registers: [registry] });
    for (const seconds of observations) histogram.observe({ result: 'accepted' }, seconds);
    histogram.observe({ result: 'failed' }, 0.02);
  });
  assert.is(ours, theirs);
});

test('an unlabelled series, and reset() empties it', async () => {
  const series = new HistogramSeries({}, buckets);
  for (const seconds of observations) series.observe(seconds);
  const lines = (await scrape((registry) => registerHistogram(registry, 'ack_seconds', 'acks', () => [series]))).split('\n');
  assert.ok(lines.includes('ack_seconds_bucket{le="0.001"} 2'), lines.join('\n'));
  assert.ok(lines.includes('ack_seconds_bucket{le="+Inf"} 5'));
  assert.ok(lines.includes('ack_seconds_count 5'));
  series.reset();
  const after = (await scrape((registry) => registerHistogram(registry, 'ack_seconds', 'acks', () => [series]))).split('\n');
  assert.ok(after.includes('ack_seconds_bucket{le="+Inf"} 0'), after.join('\n'));
  assert.ok(after.includes('ack_seconds_sum 0'));
});

test("a registry reset empties the registered series in place", async () => {
  const series = new HistogramSeries({}, buckets);
  for (const seconds of observations) series.observe(seconds);
  const registry = new Registry();
  registerHistogram(registry, 'ack_seconds', 'acks', () => [series]);
  registry.resetMetrics();
  const lines = (await registry.metrics()).split('\n');
  assert.ok(lines.includes('ack_seconds_count 0'), lines.join('\n'));
  series.observe(0.004);
  assert.ok((await registry.metrics()).split('\n').includes('ack_seconds_count 1'), 'the same series is still the one scraped');
});

test.run();
