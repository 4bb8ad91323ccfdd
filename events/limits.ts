/**
 * Every bound the store enforces, each with its unit last. Defaults here; the shell may override
 * them from the environment (see README "Settings").
 */
export interface Limits {
  /** Longest key, in characters (the course API says 50). */
  readonly keyLengthMax: number;
  /** Largest client request body, in bytes; larger bodies are refused with 413 before being read. */
  readonly bodyBytesMax: number;
  /** Largest stored value, as JSON text, in bytes. */
  readonly valueBytesMax: number;
  /** Most entries a client's causal metadata (or any clock a peer sends) may have. */
  readonly clockEntriesMax: number;
  /** Most events waiting for their causal past; beyond it new arrivals are dropped and re-sent later. */
  readonly pendingEventsMax: number;
  /** Most events in one replication request. */
  readonly pushBatchEventsMax: number;
  /** Largest replication request body, in bytes (a batch is cut before it grows past this). */
  readonly peerBodyBytesMax: number;
  /** Most keys in one snapshot chunk sent to a joining or far-behind peer. */
  readonly snapshotChunkKeysMax: number;
  /** Most replicas a view may hold. */
  readonly viewMembersMax: number;
  /** Most client requests waiting for their causal dependencies at once; beyond it, 503 at once. */
  readonly causalWaitersMax: number;
}

export const defaultLimits: Limits = Object.freeze({
  keyLengthMax: 50,
  bodyBytesMax: 262_144,
  valueBytesMax: 196_608,
  clockEntriesMax: 256,
  pendingEventsMax: 100_000,
  pushBatchEventsMax: 2_000,
  peerBodyBytesMax: 16 * 1024 * 1024,
  snapshotChunkKeysMax: 10_000,
  viewMembersMax: 64,
  causalWaitersMax: 10_000,
});
