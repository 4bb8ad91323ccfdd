/** Timing of the replication and membership protocol, in milliseconds. Defaults in README "Settings". */
export interface ProtocolSettings {
  /** How often a healthy peer is probed. */
  readonly probeIntervalMs: number;
  /** How often a peer is probed after a failed probe, or while it is out of the view. */
  readonly suspectProbeIntervalMs: number;
  /** Failed probes in a row after which a peer leaves the view. */
  readonly probeMissesMax: number;
  /** After a failure on a link, no events flow on it until this long has passed (flap damping). */
  readonly linkHoldDownMs: number;
  /** How soon a push is retried after it failed or did not make the peer progress. */
  readonly antiEntropyIntervalMs: number;
  /** Held events beyond which a lagging peer stops holding back compaction (it gets a snapshot later). */
  readonly logEventsMax: number;
  /** How often stable events leave the log (and stable tombstones the view). */
  readonly compactionIntervalMs: number;
  /** How long a write waits for another replica to hold it before it is acknowledged anyway. */
  readonly writeAckTimeoutMs: number;
  /** How long a starting replica tries to pull a snapshot before it joins with what it has. */
  readonly joinTimeoutMs: number;
  /** How soon to ask a peer again whether it delivered our events that were waiting for their past. */
  readonly pipelineRecheckMs: number;
  /** How long a snapshot cut for a joiner is kept for its next chunks. */
  readonly servedSnapshotTtlMs: number;
  /**
   * How long after a replica life ended (its address announced a new one) before its clock entry
   * may be retired: well past any message of it still in flight, any push retried, any hold-down.
   */
  readonly retireAfterMs: number;
}

export const defaultProtocolSettings: ProtocolSettings = Object.freeze({
  // Interval plus probe timeout must stay well under one second: a link cut by a firewall that
  // drops packets gives no error, only silence, and a cut of one second (the course's reconnect
  // test) must be seen by both ends for the hold-down to work.
  probeIntervalMs: 250,
  suspectProbeIntervalMs: 250,
  probeMissesMax: 3,
  linkHoldDownMs: 5000,
  antiEntropyIntervalMs: 500,
  logEventsMax: 100_000,
  compactionIntervalMs: 1000,
  writeAckTimeoutMs: 1000,
  joinTimeoutMs: 3000,
  pipelineRecheckMs: 5,
  servedSnapshotTtlMs: 60_000,
  retireAfterMs: 10_000,
});
