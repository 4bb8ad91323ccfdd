import type { Address } from '../../events/ids.ts';
import type { Outcome, PeerMessage, PeerReply } from '../../events/peer-rpc.ts';

/**
 * How the node reaches its peers: one call per message of the wire union, answered exactly once
 * with an Outcome (never a throw), whose reply was parsed by the message's rpc in events/peer-rpc.ts.
 * HTTP in production (transport/http-transport.ts); an in-memory faulty network in the simulation.
 */
export interface Transport {
  send(to: Address, message: PeerMessage, timeoutMs: number | undefined, done: (outcome: Outcome<PeerReply>) => void): void;
  close(): void;
}
