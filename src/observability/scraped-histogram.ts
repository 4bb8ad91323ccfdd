import type { Registry } from 'prom-client';

type MetricValue = { labels: object; value: number; metricName?: string };
type RegisteredMetric = Parameters<Registry['registerMetric']>[0];

/** A metric whose values are computed when scraped, in the shape prom-client's registry reads (its MetricObjectWithValues). */
export function scrapedMetric(name: string, help: string, type: 'counter' | 'histogram', values: () => MetricValue[], reset: () => void): RegisteredMetric {
  const metric = { name, help, type, aggregator: 'sum', get: async () => ({ name, help, type, aggregator: 'sum', values: values() }), reset };
  return metric as unknown as RegisteredMetric;
}

/**
 * One labelled series of a histogram, counted into plain numbers (counts per bucket, not
 * cumulative) and turned into Prometheus samples only when scraped. prom-client's own observe()
 * builds and hashes a label object on every call; these series are observed on every request,
 * push and write.
 */
export class HistogramSeries {
  private readonly counts: Float64Array;
  private sum = 0;
  private count = 0;

  constructor(
    readonly labels: Readonly<Record<string, string>>,
    private readonly bucketsSeconds: readonly number[],
  ) {
    this.counts = new Float64Array(bucketsSeconds.length);
  }

  observe(seconds: number): void {
    const buckets = this.bucketsSeconds;
    let index = 0;
    while (index < buckets.length && seconds > buckets[index]!) index++;
    if (index < buckets.length) this.counts[index]!++;
    this.sum += seconds;
    this.count++;
  }

  /** Cumulative buckets, +Inf, sum and count, labelled as prom-client labels its own histograms. */
  samples(name: string): MetricValue[] {
    const values: MetricValue[] = [];
    let cumulative = 0;
    this.bucketsSeconds.forEach((bound, index) => {
      cumulative += this.counts[index]!;
      values.push({ labels: { le: bound, ...this.labels }, value: cumulative, metricName: `${name}_bucket` });
    });
    values.push({ labels: { le: '+Inf', ...this.labels }, value: this.count, metricName: `${name}_bucket` });
    values.push({ labels: this.labels, value: this.sum, metricName: `${name}_sum` });
    values.push({ labels: this.labels, value: this.count, metricName: `${name}_count` });
    return values;
  }

  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }
}

/**
 * Registers the histogram `name`, whose series are whatever `series()` returns at scrape time. A
 * registry reset empties those series in place: whoever observes into them keeps its references.
 */
export function registerHistogram(registry: Registry, name: string, help: string, series: () => Iterable<HistogramSeries>): void {
  const reset = () => {
    for (const one of series()) one.reset();
  };
  registry.registerMetric(scrapedMetric(name, help, 'histogram', () => [...series()].flatMap((s) => s.samples(name)), reset));
}
