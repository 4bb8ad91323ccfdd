import type { Address } from '../../events/ids.ts';
import type { Limits } from '../../events/limits.ts';
import type { ShardMap } from '../../events/shard-map.ts';
import { parseShardMapState, shardPaths } from '../../events/shard-messages.ts';
import type { ShardClient } from './shard-client.ts';

/** How long a starting node asks the nodes of its VIEW for their shard map. */
const discoverTimeoutMs = 1000;

/**
 * Asks every other node of `view` for its shard map, at once, each bounded: the newest map any of
 * them follows (undefined when none is sharded or none answers), and the nodes they know. A node
 * restarted after a reshard thus comes back in its current shard, and a node started without
 * SHARD_COUNT in a sharded cluster learns it is one (and belongs to no shard until added).
 */
export async function discoverShardMap(self: Address, view: readonly Address[], client: ShardClient, limits: Limits): Promise<{ map: ShardMap | undefined; view: Address[] }> {
  const others = view.filter((address) => address !== self);
  const answers = await Promise.allSettled(others.map((to) => client.call(to, 'GET', shardPaths.map, undefined, discoverTimeoutMs, (body) => parseShardMapState(body, limits))));
  let map: ShardMap | undefined;
  const known = new Set<Address>(view);
  for (const answer of answers) {
    if (answer.status !== 'fulfilled') continue;
    for (const address of answer.value.view) known.add(address);
    const theirs = answer.value.map;
    if (theirs !== null && (map === undefined || theirs.epoch > map.epoch)) map = theirs;
  }
  return { map, view: [...known] };
}
