import type { Address } from '../../events/ids.ts';
import type { KvEvent } from '../../events/kv-event.ts';
import type { Outcome, SnapshotPull } from '../../events/peer-rpc.ts';
import type { SnapshotChunk } from '../../events/peer-messages.ts';

/** A snapshot pulled whole: what the joiner installs. */
export interface PulledSnapshot {
  readonly entries: readonly KvEvent[];
  readonly last: SnapshotChunk;
}

export type JoinState =
  | {
      readonly kind: 'pulling';
      /** Which candidate is being asked. */
      readonly candidate: number;
      readonly snapshotId: string | undefined;
      readonly index: number;
      readonly inFlight: boolean;
    }
  | { readonly kind: 'joined'; readonly how: 'snapshot' | 'no-peer-answered' | 'timed-out' | 'alone' };

/**
 * The one pull a replica ever makes: at start, the whole state of one live peer, in chunks of one
 * consistent cut. Candidates are asked in turn; a peer that answers 410 (the cut it served expired)
 * is asked for a new cut; past the deadline the replica joins with what it has (anti-entropy
 * brings the rest).
 */
export class Joining {
  state: JoinState;
  private entries: KvEvent[] = [];

  constructor(
    private readonly candidates: readonly Address[],
    private readonly deadline: number,
  ) {
    this.state =
      candidates.length === 0 ? { kind: 'joined', how: 'alone' } : { kind: 'pulling', candidate: 0, snapshotId: undefined, index: 0, inFlight: false };
  }

  get joined(): boolean {
    return this.state.kind === 'joined';
  }

  /** The next chunk to ask for, if one is due now. */
  takePull(now: number): { readonly to: Address; readonly request: SnapshotPull; readonly timeoutMs: number } | undefined {
    const state = this.state;
    if (state.kind !== 'pulling' || state.inFlight) return undefined;
    if (now >= this.deadline) {
      this.finish('timed-out');
      return undefined;
    }
    this.state = { ...state, inFlight: true };
    const request = state.snapshotId === undefined ? { index: 0 } : { snapshotId: state.snapshotId, index: state.index };
    return { to: this.candidates[state.candidate]!, request, timeoutMs: this.deadline - now };
  }

  /** A chunk arrived, or the pull failed. Returns the whole snapshot once its last chunk is in. */
  onReply(outcome: Outcome<SnapshotChunk>): PulledSnapshot | undefined {
    const state = this.state;
    if (state.kind !== 'pulling') return undefined;
    if (!outcome.ok) {
      if (outcome.status === 410) this.restartWith(state.candidate);
      else this.restartWith(state.candidate + 1);
      return undefined;
    }
    const chunk = outcome.reply;
    if ((state.snapshotId !== undefined && chunk.snapshotId !== state.snapshotId) || chunk.index !== state.index) {
      this.restartWith(state.candidate);
      return undefined;
    }
    for (const entry of chunk.entries) this.entries.push(entry);
    if (!chunk.last) {
      this.state = { kind: 'pulling', candidate: state.candidate, snapshotId: chunk.snapshotId, index: state.index + 1, inFlight: false };
      return undefined;
    }
    const pulled = { entries: this.entries, last: chunk };
    this.finish('snapshot');
    return pulled;
  }

  private restartWith(candidate: number): void {
    this.entries = [];
    if (candidate >= this.candidates.length) this.finish('no-peer-answered');
    else this.state = { kind: 'pulling', candidate, snapshotId: undefined, index: 0, inFlight: false };
  }

  private finish(how: Extract<JoinState, { kind: 'joined' }>['how']): void {
    this.entries = [];
    this.state = { kind: 'joined', how };
  }
}
