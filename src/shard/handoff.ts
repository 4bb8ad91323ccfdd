import type { Address } from '../../events/ids.ts';
import type { KvEvent } from '../../events/kv-event.ts';
import type { Limits } from '../../events/limits.ts';
import { groupOfShard, membersOf, shardOfKey } from '../../events/shard-map.ts';
import { parseHandoffReply, shardPaths, type HandoffReply } from '../../events/shard-messages.ts';
import type { Clock } from '../node/clock.ts';
import type { Logger } from '../node/logger.ts';
import type { ShardClient } from './shard-client.ts';
import type { ShardedNode } from './sharded-node.ts';
import type { StrandedBatch } from './stranded-writes.ts';

/** How often stranded writes are tried again while some wait (a member of their shard may be cut off, or not know the reshard yet). */
const attemptEveryMs = 1_000;
/** One page's call: its writes are acknowledged once two replicas hold them, a second or two. */
const callTimeoutMs = 15_000;
/** Past this, writes that could not be handed on are given up, loudly: their shard stayed unreachable all along. */
const giveUpAfterMs = 10 * 60_000;

/**
 * How long stranded writes wait for the clock their reshard quiesced their group at, when their
 * map came without it: past it they go as they are, and the receiving members (which took the
 * reshard's commit) skip what it took.
 */
const awaitClockMs = 60_000;

/**
 * Hands the writes this node took alone while a reshard ran without it (ShardedNode.strand) to
 * the shard that owns their keys under the map followed now, a page at a time, to its members in
 * map order (the same first member on a retry, which remembers what it wrote: takeHandoff), until
 * each page is taken. Every batch is tried each round: one whose shard is unreachable does not
 * hold up the others. Returns a stopper.
 */
export function handOffStrandedWrites(sharded: ShardedNode, client: ShardClient, limits: Limits, log: Logger, clock: Clock): () => void {
  let running = false;
  const timer = setInterval(() => {
    if (running || sharded.stranded.size === 0) return;
    running = true;
    handOffAll(sharded, client, limits, log, clock.now())
      .catch((error: unknown) => log.warn({ event: 'handoff-failed', err: error }, 'handing on stranded writes failed; trying again later'))
      .finally(() => {
        running = false;
      });
  }, attemptEveryMs);
  timer.unref();
  return () => clearInterval(timer);
}

async function handOffAll(sharded: ShardedNode, client: ShardClient, limits: Limits, log: Logger, now: number): Promise<void> {
  for (const batch of [...sharded.stranded.all()]) {
    if (batch.awaitingClockAfter !== undefined) {
      if (now - batch.since <= awaitClockMs) continue;
      log.warn({ event: 'handoff-clock-missing', group: batch.group, count: batch.events.size }, 'the clock of the reshard that ran without this node never came: handing on every write it may have missed');
      batch.awaitingClockAfter = undefined; // and no clock of its own: the receivers' latest judge
    }
    if (now - batch.since > giveUpAfterMs) {
      log.error({ event: 'handoff-abandoned', group: batch.group, count: batch.events.size }, 'writes acknowledged here that a reshard did not take could not be handed to their shard in time: they are lost');
      sharded.stranded.remove(batch, [...batch.events.values()]);
      continue;
    }
    await handOffBatch(sharded, client, limits, log, batch);
  }
}

async function handOffBatch(sharded: ShardedNode, client: ShardClient, limits: Limits, log: Logger, batch: StrandedBatch): Promise<void> {
  const map = sharded.map;
  const byShard = new Map<number, KvEvent[]>();
  for (const event of batch.events.values()) {
    const shard = shardOfKey(map, event.key);
    const list = byShard.get(shard);
    if (list === undefined) byShard.set(shard, [event]);
    else list.push(event);
  }
  for (const [shard, events] of byShard) {
    // Keys back in the very life that held them (the map moved them back): its replication carries them.
    if (shard === sharded.shard && groupOfShard(map, shard) === batch.group && sharded.node.core.id === batch.life) {
      sharded.stranded.remove(batch, events);
      continue;
    }
    for (let offset = 0; offset < events.length; offset += limits.snapshotChunkKeysMax) {
      const page = events.slice(offset, offset + limits.snapshotChunkKeysMax);
      if (!(await handOffPage(sharded, client, batch, membersOf(map, shard), page, log))) break;
    }
  }
}

/** Sends one page to the first member that takes it; false when none did (tried again later). */
async function handOffPage(sharded: ShardedNode, client: ShardClient, batch: StrandedBatch, members: readonly Address[], page: readonly KvEvent[], log: Logger): Promise<boolean> {
  const failures: string[] = [];
  for (const member of members) {
    try {
      const reply: HandoffReply =
        member === sharded.self
          ? await sharded.takeHandoff(batch.group, page, batch.quiesced)
          : await client.call(member, 'POST', shardPaths.handoff, { group: batch.group, events: page, ...(batch.quiesced === undefined ? {} : { quiesced: batch.quiesced }) }, callTimeoutMs, parseHandoffReply);
      sharded.stranded.remove(batch, page);
      log.info({ event: 'handoff-done', group: batch.group, to: member, ...reply }, 'stranded writes handed to their shard');
      return true;
    } catch (error) {
      failures.push(`${member}: ${(error as Error).message}`);
    }
  }
  log.info({ event: 'handoff-pending', group: batch.group, count: page.length, failures }, 'stranded writes not handed on yet; trying again');
  return false;
}
