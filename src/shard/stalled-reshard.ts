import type { Limits } from '../../events/limits.ts';
import type { Logger } from '../node/logger.ts';
import { runReshard } from './reshard.ts';
import type { ShardClient } from './shard-client.ts';
import { unfinishedReshardMs, type ShardedNode } from './sharded-node.ts';

/** How often a node looks for a reshard left unfinished. */
const checkEveryMs = 1_000;
/**
 * A reshard committed this long ago and still not ready is finished by the nodes themselves: its
 * coordinator died between commit and ready. Twice unfinishedReshardMs, so an operator's own re-run
 * (allowed from then) usually comes first; a live coordinator imports a page in well under a second.
 */
const finishAfterMs = 2 * unfinishedReshardMs;
/** Each node waits a random part of this more, so one of them usually goes first (the others' freezes are refused meanwhile, and they find it done). */
const jitterMs = 5_000;

/**
 * Finishes, by itself, a reshard whose coordinator died after commit: until then the keys moving
 * between shards answer 503 at their new shard (they are still at their old one). The reshard is
 * run again to the current shard count, as an operator would (reshard.ts: the members that stayed
 * in their group still hold the keys that were leaving, and the new run moves them). Two nodes
 * doing it at once refuse each other's freeze and back off (runReshard). Returns a stopper.
 */
export function finishStalledReshards(sharded: ShardedNode, client: ShardClient, limits: Limits, log: Logger): () => void {
  let running = false;
  let waitMs = finishAfterMs + Math.random() * jitterMs;
  const timer = setInterval(() => {
    if (running || sharded.arrivingForMs < waitMs) return;
    running = true;
    const shardCount = sharded.map.shards.length;
    log.warn({ event: 'reshard-stalled', epoch: sharded.map.epoch, forMs: Math.round(sharded.arrivingForMs), shardCount }, 'a reshard committed long ago never finished: running it again');
    runReshard(sharded, client, limits, log, shardCount)
      .catch((error: unknown) => log.warn({ event: 'reshard-stalled-retry-failed', err: error }, 'finishing the stalled reshard failed; trying again later'))
      .finally(() => {
        running = false;
        waitMs = finishAfterMs + Math.random() * jitterMs;
      });
  }, checkEveryMs);
  timer.unref();
  return () => clearInterval(timer);
}
