import type { Address } from '../../events/ids.ts';
import type { KvEvent } from '../../events/kv-event.ts';
import type { VectorClock } from '../../events/vector-clock.ts';
import type { SnapshotSource } from './snapshot-source.ts';

/**
 * What the core asks the shell to send. The shell performs each action and reports the outcome
 * back (onPushResult, onProbeResult); it decides nothing itself.
 */
export type Action =
  | {
      readonly type: 'push';
      readonly to: Address;
      readonly events: readonly KvEvent[];
      readonly clock: VectorClock;
      readonly sentAt: number;
      /** Our own unreplicated writes, for a peer that holds the link down to keep unapplied. */
      readonly custody?: boolean;
    }
  | { readonly type: 'push-snapshot'; readonly to: Address; readonly snapshot: SnapshotSource; readonly sentAt: number }
  | { readonly type: 'probe'; readonly to: Address; readonly sentAt: number }
  | { readonly type: 'announce'; readonly to: Address; readonly clock: VectorClock }
  | { readonly type: 'broadcast-delete'; readonly to: Address; readonly address: Address };

/** How a request to a peer ended, as the shell saw it. */
export type Outcome<Reply> = { readonly ok: true; readonly reply: Reply } | { readonly ok: false; readonly reason: string };
