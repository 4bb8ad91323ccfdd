import { performance } from 'node:perf_hooks';
import type { Registry } from 'prom-client';
import type { DurableLogDescription } from '../storage/durable-log.ts';

type Sample = { labels: object; value: number; metricName?: string };
type RegisteredMetric = Parameters<Registry['registerMetric']>[0];

/** A scrape reads the durable log's description once, however many metrics use it. */
const describeTtlMs = 100;

/** A metric computed when scraped, in the shape prom-client's registry reads; no samples = no value. */
function scraped(name: string, help: string, type: 'gauge' | 'histogram', samples: () => Sample[]): RegisteredMetric {
  const get = async () => ({ name, help, type, aggregator: 'sum', values: samples() });
  return { name, help, type, aggregator: 'sum', get, reset: () => undefined } as unknown as RegisteredMetric;
}

/**
 * The durable log's metrics (only with DATA_DIR), all read from its describe() at scrape time:
 * what is on disk, fsync latency, the last snapshot, the recovery at start, and whether writes
 * can be stored now. Nothing is counted per write here: the log keeps its own bucket counts.
 */
export function registerStorageMetrics(registry: Registry, describe: () => DurableLogDescription): void {
  let cached: { at: number; description: DurableLogDescription } | undefined;
  const read = (): DurableLogDescription => {
    const now = performance.now();
    if (cached === undefined || now - cached.at > describeTtlMs) cached = { at: now, description: describe() };
    return cached.description;
  };
  const gauge = (name: string, help: string, value: (d: DurableLogDescription) => number | null) =>
    registry.registerMetric(
      scraped(name, help, 'gauge', () => {
        const v = value(read());
        return v === null ? [] : [{ labels: {}, value: v }];
      }),
    );

  gauge('kvs_storage_disk_bytes', 'Bytes of the durable log on disk: segments and snapshots', (d) => d.diskBytes);
  gauge('kvs_storage_segments', 'Segment files of the durable log on disk', (d) => d.segments);
  gauge('kvs_storage_bytes_since_snapshot', 'Bytes appended to segments since the last snapshot', (d) => d.bytesSinceSnapshot);
  gauge('kvs_storage_queued_bytes', 'Bytes appended but not yet written (FSYNC=batch: and synced), held in memory', (d) => d.queuedBytes);
  gauge('kvs_storage_unavailable', '1 while writes cannot be stored (disk full, unwritable, write queue full): they are answered 503', (d) => (d.unavailable === null ? 0 : 1));
  gauge('kvs_storage_last_snapshot_bytes', 'Size of the newest snapshot file (absent: none yet)', (d) => d.lastSnapshot?.bytes ?? null);
  gauge('kvs_storage_last_snapshot_age_seconds', 'Time since the newest snapshot was written (absent: none yet, or one found at start whose age is unknown)', (d) =>
    d.lastSnapshot?.agoMs === null || d.lastSnapshot === null ? null : d.lastSnapshot.agoMs / 1000,
  );
  gauge('kvs_storage_recovery_duration_seconds', 'How long reading the DATA_DIR back took at start', (d) => d.recovery.durationMs / 1000);
  gauge('kvs_storage_recovery_records_replayed', 'Records read back from segments at start', (d) => d.recovery.records);
  gauge('kvs_storage_recovery_events_replayed', 'Events read back from segments at start (a record holds a batch)', (d) => d.recovery.events);
  gauge('kvs_storage_recovery_torn_bytes_cut', 'Bytes of a torn last record cut off at start (a write a crash interrupted; never acknowledged)', (d) => d.recovery.tornTail?.bytesCut ?? 0);
  gauge('kvs_storage_recovery_damaged', 'Damaged records or snapshots found at start (moved aside; the replica started a new incarnation)', (d) => d.recovery.damage.length);

  const fsyncName = 'kvs_storage_fsync_seconds';
  registry.registerMetric(
    scraped(fsyncName, 'fdatasync of a segment (FSYNC=batch; one per group of writes)', 'histogram', () => {
      const { boundsMs, counts, count, sumMs } = read().fsyncs;
      const samples: Sample[] = [];
      let cumulative = 0;
      boundsMs.forEach((bound, index) => {
        cumulative += counts[index] ?? 0;
        samples.push({ labels: { le: bound / 1000 }, value: cumulative, metricName: `${fsyncName}_bucket` });
      });
      samples.push({ labels: { le: '+Inf' }, value: count, metricName: `${fsyncName}_bucket` });
      samples.push({ labels: {}, value: sumMs / 1000, metricName: `${fsyncName}_sum` });
      samples.push({ labels: {}, value: count, metricName: `${fsyncName}_count` });
      return samples;
    }),
  );
}
