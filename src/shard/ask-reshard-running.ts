import { parseReshardRunningReply, shardPaths } from '../../events/shard-messages.ts';
import type { Address } from '../../events/ids.ts';
import { coordinatorOf, type RunningReshards } from './running-reshards.ts';
import type { ShardClient } from './shard-client.ts';

/** How long a frozen node waits for its coordinator's answer; it asks again about a second later (ShardedNode). */
const askTimeoutMs = 1_000;

/**
 * ShardedNode's `askReshardRunning`: asks the coordinator named by the reshard's id whether it still
 * runs it (`shardPaths.reshardRunning`); this node's own `coordinating` answers for itself. An id
 * that names no coordinator, or a coordinator that does not answer, gives no answer (undefined).
 */
export function reshardRunningAsker(self: Address, coordinating: () => RunningReshards, client: ShardClient): (reshard: string) => Promise<boolean | undefined> {
  return async (reshard) => {
    const coordinator = coordinatorOf(reshard);
    if (coordinator === undefined) return undefined;
    if (coordinator === self) return coordinating().has(reshard);
    try {
      const path = `${shardPaths.reshardRunning}?reshard=${encodeURIComponent(reshard)}`;
      return (await client.call(coordinator, 'GET', path, undefined, askTimeoutMs, parseReshardRunningReply)).running;
    } catch {
      return undefined;
    }
  };
}
