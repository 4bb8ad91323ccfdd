import type { KvEvent } from '../../events/kv-event.ts';
import { clockCovers, type VectorClock } from '../../events/vector-clock.ts';
import type { SnapshotSource } from './snapshot-source.ts';

/**
 * What is on the wire to one peer: nothing, one push of events, or a snapshot being sent chunk by
 * chunk (a peer too far behind for a log suffix). One push at a time per peer: its answer carries
 * the peer's clock, which decides what to send next.
 */
export type PipelineState =
  | { readonly kind: 'idle' }
  | { readonly kind: 'events-in-flight' }
  | { readonly kind: 'snapshot-in-flight'; readonly source: SnapshotSource; readonly index: number };

/** The sending side of replication to one peer: the pipeline's state and the timing of its next push. */
export class PushPipeline {
  state: PipelineState = { kind: 'idle' };
  /** No push before this time (a failure or a refused snapshot backs off one anti-entropy interval). */
  nextPushAt: number;
  /** Our own events sent to this peer up to this seq, at this time: not sent again until overdue. */
  ownSentSeq = 0;
  ownSentAt = 0;
  /**
   * Events of other origins the peer was seen to lack, and when: relayed only if it still lacks
   * them an anti-entropy interval later (normally their origin delivers them meanwhile).
   */
  othersLacking: { readonly since: number; readonly upTo: VectorClock } | undefined;
  /**
   * The peer needs a snapshot, but it waits until our own writes are stored (a snapshot carries
   * them): storing them is an input that wakes the replica, so no timer is due meanwhile.
   */
  snapshotWaitsForStore = false;
  /** The clock of the last snapshot sent whole, until the answer to its last chunk says whether it was taken. */
  private snapshotSentUpTo: VectorClock | undefined;

  constructor(now: number) {
    this.nextPushAt = now;
  }

  get busy(): boolean {
    return this.state.kind !== 'idle';
  }

  sendEvents(events: readonly KvEvent[], self: string, now: number): void {
    this.state = { kind: 'events-in-flight' };
    for (const event of events) {
      if (event.origin === self && event.seq > this.ownSentSeq) {
        this.ownSentSeq = event.seq;
        this.ownSentAt = now;
      }
    }
  }

  sendSnapshot(source: SnapshotSource): void {
    this.state = { kind: 'snapshot-in-flight', source, index: 0 };
  }

  /**
   * The peer took a push or a chunk. Returns the next chunk's index when a snapshot is still being
   * sent, or undefined once the pipeline is idle again.
   */
  accepted(last: boolean): number | undefined {
    const state = this.state;
    if (state.kind === 'snapshot-in-flight' && !last) {
      this.state = { ...state, index: state.index + 1 };
      return state.index + 1;
    }
    if (state.kind === 'snapshot-in-flight') this.snapshotSentUpTo = state.source.clock;
    this.state = { kind: 'idle' };
    return undefined;
  }

  /** The push failed: what we thought in flight may be lost, so nothing counts as sent. */
  failed(now: number, backOffMs: number): void {
    this.state = { kind: 'idle' };
    this.ownSentSeq = 0;
    this.snapshotSentUpTo = undefined;
    this.nextPushAt = now + backOffMs;
  }

  /** The push was refused (held down, or answered by someone else): idle, try again later. */
  refused(): void {
    this.state = { kind: 'idle' };
  }

  /**
   * After an accepted push: go on at once; only a snapshot the peer did not take (it may be
   * refusing) waits a round instead of being cut and sent again at once.
   */
  scheduleNext(known: VectorClock, now: number, backOffMs: number): void {
    const refused = this.snapshotSentUpTo !== undefined && !clockCovers(known, this.snapshotSentUpTo);
    this.snapshotSentUpTo = undefined;
    this.nextPushAt = refused ? now + backOffMs : now;
  }

  /** The peer's new life knows nothing we sent its previous one. */
  peerRestarted(now: number): void {
    this.ownSentSeq = 0;
    this.nextPushAt = now;
  }
}
