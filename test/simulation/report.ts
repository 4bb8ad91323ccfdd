/** What one seeded run did, for the summary line and for scenario assertions. */
export interface SimReport {
  readonly seed: number;
  readonly replicas: number;
  readonly virtualMs: number;
  readonly convergedAfterMs: number;
  readonly writes: number;
  readonly reads: number;
  /** Sharded runs: reads served to a client whose metadata named another shard's writes. */
  readonly crossShardReads: number;
  readonly unavailable: number;
  readonly deliveries: number;
  readonly messages: number;
  readonly dropped: number;
  readonly duplicated: number;
  readonly partitions: number;
  readonly crashes: number;
  readonly restartsFromDisk: number;
  /** Addresses with a retired life, at the replica that retired most (the end of the run). */
  readonly livesRetired: number;
  readonly joinsBySnapshot: number;
  readonly joinChunks: number;
  readonly snapshotsPushed: number;
  readonly heldDownReplies: number;
  readonly custodyPushes: number;
  readonly compactedEvents: number;
  readonly tombstonesCollected: number;
  /** Keys a life put before it caught up with its group, written again once it had (src/core/writes-before-catch-up.ts). */
  readonly rewrittenAfterCatchUp: number;
  readonly sessionsLost: number;
  /** Snapshots pushed to a peer that already had everything in them. */
  readonly snapshotsRedundant: number;
  /** Acknowledged writes lost in crashes (only allowed when no peer held them at the time of the answer, or after several crashes). */
  readonly ackedWritesLost: number;
}

export type SimStats = { -readonly [K in Exclude<keyof SimReport, 'seed' | 'replicas' | 'virtualMs' | 'convergedAfterMs'>]: number };

export function emptyStats(): SimStats {
  return {
    writes: 0,
    reads: 0,
    crossShardReads: 0,
    unavailable: 0,
    deliveries: 0,
    messages: 0,
    dropped: 0,
    duplicated: 0,
    partitions: 0,
    crashes: 0,
    restartsFromDisk: 0,
    livesRetired: 0,
    joinsBySnapshot: 0,
    joinChunks: 0,
    snapshotsPushed: 0,
    heldDownReplies: 0,
    custodyPushes: 0,
    compactedEvents: 0,
    tombstonesCollected: 0,
    rewrittenAfterCatchUp: 0,
    sessionsLost: 0,
    snapshotsRedundant: 0,
    ackedWritesLost: 0,
  };
}

/** A failed run: the seed, when, why, the last trace lines, and the exact command that replays it. */
export class SimulationFailure extends Error {
  constructor(
    readonly seed: number,
    readonly at: number,
    message: string,
    trace: readonly string[],
    readonly replay: string,
  ) {
    super(
      `simulation seed ${seed} failed at virtual ${at} ms: ${message}\n` +
        `  replay: ${replay}   (add SIM_TRACE=1 for a trace)\n` +
        (trace.length > 0 ? `  last trace lines:\n    ${trace.join('\n    ')}` : ''),
    );
    this.name = 'SimulationFailure';
  }
}

/** One line over many runs. */
export function summarize(reports: readonly SimReport[]): string {
  const sum = (pick: (report: SimReport) => number) => reports.reduce((total, report) => total + pick(report), 0);
  const worst = Math.max(0, ...reports.map((report) => report.convergedAfterMs));
  return (
    `${reports.length} seeds: ${sum((r) => r.writes)} writes, ${sum((r) => r.reads)} reads${sum((r) => r.crossShardReads) > 0 ? ` (${sum((r) => r.crossShardReads)} with another shard's writes in their metadata)` : ''}, ${sum((r) => r.unavailable)} refused (503), ` +
    `${sum((r) => r.deliveries)} deliveries, ${sum((r) => r.messages)} messages (${sum((r) => r.dropped)} dropped, ${sum((r) => r.duplicated)} duplicated), ` +
    `${sum((r) => r.partitions)} partitions, ${sum((r) => r.crashes)} crashes (${sum((r) => r.restartsFromDisk)} restarts from a DATA_DIR; ${sum((r) => r.livesRetired)} addresses with retired lives), ${sum((r) => r.joinsBySnapshot)} joins by snapshot (${sum((r) => r.joinChunks)} chunks), ` +
    `${sum((r) => r.snapshotsPushed)} snapshots pushed, ${sum((r) => r.heldDownReplies)} held-down replies, ${sum((r) => r.custodyPushes)} custody pushes, ` +
    `${sum((r) => r.compactedEvents)} events compacted, ${sum((r) => r.tombstonesCollected)} tombstones collected, ${sum((r) => r.rewrittenAfterCatchUp)} keys put before catching up written again, ` +
    `${sum((r) => r.sessionsLost)} client sessions lost to crashes, ${sum((r) => r.ackedWritesLost)} acknowledged writes lost in crashes, ` +
    `${sum((r) => r.snapshotsRedundant)} snapshots sent to a peer that had it all; slowest convergence ${worst} ms after the heal`
  );
}
