import type { Logger } from '../node/logger.ts';
import { shardPaths } from '../../events/shard-messages.ts';
import type { ShardClient } from './shard-client.ts';
import type { ShardedNode } from './sharded-node.ts';

const spreadTimeoutMs = 2000;

/** Sends this node's map and view to every other node of the cluster; waits for the answers (bounded), failures only logged. */
export async function spreadMap(sharded: ShardedNode, client: ShardClient, log: Logger): Promise<void> {
  const state = sharded.state();
  const others = state.view.filter((address) => address !== sharded.self);
  const answers = await Promise.allSettled(others.map((to) => client.call(to, 'PUT', shardPaths.map, state, spreadTimeoutMs, () => undefined)));
  const missed = others.filter((_, i) => answers[i]!.status === 'rejected');
  if (missed.length > 0) log.info({ event: 'shard-map-unsent', epoch: state.map?.epoch, peers: missed }, 'shard map not delivered to every node; gossip will carry it');
}

/**
 * Every `intervalMs`, sends this node's map and view to one other node picked at random: a node
 * that missed a change (it was down, or cut off) learns it within a few rounds. Returns a stopper.
 */
export function gossipMap(sharded: ShardedNode, client: ShardClient, intervalMs: number): () => void {
  const timer = setInterval(() => {
    const others = sharded.view().filter((address) => address !== sharded.self);
    if (others.length === 0) return;
    const to = others[Math.floor(Math.random() * others.length)]!;
    client.call(to, 'PUT', shardPaths.map, sharded.state(), spreadTimeoutMs, () => undefined).catch(() => undefined);
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
