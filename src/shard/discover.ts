import type { Address } from '../../events/ids.ts';
import type { Limits } from '../../events/limits.ts';
import type { ShardMap } from '../../events/shard-map.ts';
import { parseShardMapState, shardPaths, type QuiescedClocks, type ShardMapState } from '../../events/shard-messages.ts';
import type { ShardClient } from './shard-client.ts';
import { winsTie } from './sharded-node.ts';

/** How long a starting node asks the nodes of its VIEW for their shard map. */
const discoverTimeoutMs = 1000;

/**
 * Asks every other node of `view` for its shard map, at once, each bounded: the newest map any of
 * them follows (undefined when none is sharded or none answers), and the nodes the node that
 * follows it knows (`view` itself when none is sharded: a VIEW setting may still list a node a
 * client removed since). A node restarted after a reshard thus comes back in its current shard,
 * and a node started without SHARD_COUNT in a sharded cluster learns it is one (and belongs to no
 * shard until added). Also what the reshards took from each group, as the nodes that answered
 * know it (quiesced): this node spreads its map with them, and a node that missed a reshard needs
 * them with the map (ShardedNode.strand).
 */
export async function discoverShardMap(
  self: Address,
  view: readonly Address[],
  client: ShardClient,
  limits: Limits,
): Promise<{ map: ShardMap | undefined; view: Address[]; quiesced: QuiescedClocks[] }> {
  const others = view.filter((address) => address !== self);
  const answers = await Promise.allSettled(others.map((to) => client.call(to, 'GET', shardPaths.map, undefined, discoverTimeoutMs, (body) => parseShardMapState(body, limits))));
  let newest: ShardMapState | undefined;
  const quiesced: QuiescedClocks[] = [];
  for (const answer of answers) {
    if (answer.status === 'fulfilled' && answer.value.quiesced !== undefined) quiesced.push(answer.value.quiesced);
    if (answer.status !== 'fulfilled' || answer.value.map === null) continue;
    const theirs = { map: answer.value.map, byReshard: answer.value.byReshard === true };
    if (newest === undefined || newest.map === null) {
      newest = answer.value;
      continue;
    }
    const ours = { map: newest.map, byReshard: newest.byReshard === true };
    if (theirs.map.epoch > ours.map.epoch || (theirs.map.epoch === ours.map.epoch && winsTie(theirs, ours))) newest = answer.value;
  }
  if (newest === undefined || newest.map === null) return { map: undefined, view: [...view], quiesced };
  return { map: newest.map, view: [...new Set([...newest.view, self])], quiesced };
}
