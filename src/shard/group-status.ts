import type { Address } from '../../events/ids.ts';
import type { Limits } from '../../events/limits.ts';
import { parseGroupStatus, shardPaths, type GroupStatus } from '../../events/shard-messages.ts';
import type { ShardClient } from './shard-client.ts';
import type { ShardedNode } from './sharded-node.ts';

/** `address`'s group status (`GET /internal/shard/status`): this node's own without a request. */
export async function groupStatusOf(sharded: ShardedNode, client: ShardClient, limits: Limits, address: Address, timeoutMs: number): Promise<GroupStatus> {
  if (address === sharded.self) return sharded.status();
  return client.call(address, 'GET', shardPaths.status, undefined, timeoutMs, (body) => parseGroupStatus(body, limits));
}
