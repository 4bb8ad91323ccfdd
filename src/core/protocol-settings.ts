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
}

export const defaultProtocolSettings: ProtocolSettings = Object.freeze({
  probeIntervalMs: 1000,
  suspectProbeIntervalMs: 250,
  probeMissesMax: 3,
  linkHoldDownMs: 5000,
  antiEntropyIntervalMs: 500,
  logEventsMax: 100_000,
});
