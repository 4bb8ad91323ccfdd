/** Bucket bounds of the fsync latency histogram, in milliseconds. */
export const fsyncBucketsMs: readonly number[] = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 1000];

/** Plain JSON: counts per bucket (not cumulative; the last one counts what is above every bound), the sum and the count. */
export interface HistogramJson {
  readonly boundsMs: readonly number[];
  readonly counts: readonly number[];
  readonly count: number;
  readonly sumMs: number;
}

/**
 * An array-bucket histogram of durations in ms: O(buckets) to observe, nothing allocated. Shaped
 * so it can be exported to Prometheus later (cumulate the counts, divide bounds and sum by 1000).
 */
export class LatencyHistogram {
  private readonly counts: number[];
  private count = 0;
  private sumMs = 0;

  constructor(private readonly boundsMs: readonly number[] = fsyncBucketsMs) {
    this.counts = new Array<number>(boundsMs.length + 1).fill(0);
  }

  observe(ms: number): void {
    let index = 0;
    while (index < this.boundsMs.length && ms > this.boundsMs[index]!) index++;
    this.counts[index]!++;
    this.count++;
    this.sumMs += ms;
  }

  toJSON(): HistogramJson {
    return { boundsMs: this.boundsMs, counts: [...this.counts], count: this.count, sumMs: Math.round(this.sumMs * 1000) / 1000 };
  }
}
