import type { Address } from '../../events/ids.ts';
import type { Limits } from '../../events/limits.ts';
import type { ProtocolSettings } from '../core/protocol-settings.ts';

/** What the node is configured with: who it is, the initial view, its bounds and its protocol timing. */
export interface NodeConfig {
  readonly socketAddress: Address;
  readonly view: readonly Address[];
  /** How long a client request waits for its causal dependencies before it is answered 503. */
  readonly causalWaitMs: number;
  readonly limits: Limits;
  readonly settings: ProtocolSettings;
}
