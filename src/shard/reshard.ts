import type { Address } from '../../events/ids.ts';
import type { KvEvent } from '../../events/kv-event.ts';
import type { Limits } from '../../events/limits.ts';
import { groupOfShard, reshard as nextMap, shardOfKey, type ShardMap } from '../../events/shard-map.ts';
import { parseExportReply, shardPaths, type GroupStatus, type QuiescedGroup, type ReshardStep } from '../../events/shard-messages.ts';
import { ExpectedError } from '../../events/expected-error.ts';
import { clockCovers } from '../../events/vector-clock.ts';
import { compareEvents } from '../core/conflict-order.ts';
import type { Logger } from '../node/logger.ts';
import { newReshardId } from './running-reshards.ts';
import { ShardCallError, type ShardClient } from './shard-client.ts';
import { groupStatusOf } from './group-status.ts';
import { mergeQuiesced } from './quiesced.ts';
import type { ShardedNode } from './sharded-node.ts';

/** Bounds of one reshard's waits: for a shard's members to agree, and for one shard's entries to be imported. */
const quiesceTimeoutMs = 10_000;
const importTimeoutMs = 30_000;
const callTimeoutMs = 5_000;
/**
 * How long one member may take to write one page of imports (each entry is acknowledged once two
 * replicas hold it: a second or two): past it the next member is tried, so one that hangs cannot
 * use up importTimeoutMs alone.
 */
const importCallTimeoutMs = 10_000;
const pollIntervalMs = 50;
/** Tries of a reshard whose freeze another map change refused (409). */
const contendedAttemptsMax = 4;

/** A reshard that has not committed this long after its freeze gives up (the nodes' freezes end at freezeTimeoutMs, 30 s). */
const commitBeforeMs = 20_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `PUT /shard/reshard`, run by the node that got it (docs/API.md "Sharding"):
 *
 * 1. **freeze**: every node refuses writes (503) from now (a freeze no commit follows ends by itself).
 * 2. **quiesce**: for each shard, its reachable members report their group's delivered clock until
 *    they all report the same one. With writes stopped this takes one round of replication; after
 *    it, every member holds every write its group acknowledged (each is held by two replicas, one
 *    of them reachable when at most one node is down), so any member can export, and the members
 *    that stay hold everything the shard keeps. "Writes stopped" needs every node the freeze did
 *    not reach to be seen gone by its shard's members (see quiesce).
 * 3. **export**: from every reachable member of each shard, the winning entry (put or tombstone)
 *    of every key whose shard changes, in pages, merged by the conflict order. Members agree on
 *    their group's events, but not always on their keys: after a reshard whose coordinator died
 *    between commit and ready, only the members that stayed in their group still hold the keys
 *    that were leaving it (a member that changed group started a new life without them); the
 *    next reshard moves them on from there.
 * 4. **commit**: every node adopts the next map. A node whose shard changed starts a new life in
 *    its new group. Keys arriving at a shard answer 503 there until step 6; other writes resume.
 * 5. **import**: each shard's arriving entries go to one of its members (the next on failure),
 *    which writes them as events of its group, depending on the old entry's clock and everything it
 *    handed on (`foreign`): causality and tombstones travel with the keys. A page is answered once
 *    its writes are acknowledged, i.e. held by two replicas.
 * 6. **ready**: every node serves the arrived keys, and drops those that left.
 *
 * A node that is down misses the steps and learns the map when it comes back (it asks its peers
 * at start, and maps spread by gossip). Until commit nothing has changed, so a failure before it
 * thaws and answers 503; after commit the old entries stay where they were until ready, so a
 * failed import is retried on another member.
 *
 * A node only cut off from every other node, and seen gone by its shard, may have acknowledged
 * writes alone meanwhile, which the export did not see: commit and ready carry each group's
 * quiesced clock, and that node hands the writes beyond it to the keys' shards when it learns the
 * map (ShardedNode.strand, handoff.ts).
 */
export async function runReshard(sharded: ShardedNode, client: ShardClient, limits: Limits, log: Logger, shardCount: number): Promise<void> {
  // Two reshards started at once refuse each other's freeze (409); each backs off a random while
  // and tries again, so one of them usually goes first and the other runs on its map after it.
  for (let attempt = 1; ; attempt++) {
    try {
      return await reshardOnce(sharded, client, limits, log, shardCount);
    } catch (error) {
      if (!(error instanceof ExpectedError && error.status === 409) || attempt >= contendedAttemptsMax) throw error;
      await sleep(200 + Math.random() * 800 * attempt);
    }
  }
}

async function reshardOnce(sharded: ShardedNode, client: ShardClient, limits: Limits, log: Logger, shardCount: number): Promise<void> {
  const next = nextMap(sharded.map, sharded.view(), shardCount);
  // This reshard's own id: nodes take its steps, exports and imports only while it is the one in
  // progress there. Registered as running before any node is frozen by it: a frozen node asks
  // (ShardedNode.freeze), and thaws once it is told the reshard is over.
  const reshard = newReshardId(sharded.self);
  sharded.coordinating.add(reshard);
  try {
    await reshardAs(reshard, next, sharded, client, limits, log);
  } finally {
    sharded.coordinating.delete(reshard);
  }
}

async function reshardAs(reshard: string, next: ShardMap, sharded: ShardedNode, client: ShardClient, limits: Limits, log: Logger): Promise<void> {
  const before = sharded.map;
  const nodes = sharded.view().filter((address) => address !== sharded.self);
  // What the export took from each group: with commit and ready, so that a node that missed the
  // freeze (cut off, it took writes alone) hands the rest to the keys' new shards (handoff.ts).
  const quiesced: Record<string, QuiescedGroup> = {};
  /** Sends a step to every node; returns those that did not take it, and whether one refused it (409: another map change came first). */
  const broadcast = async (step: ReshardStep['step']): Promise<{ unreached: Address[]; refused: boolean }> => {
    const message: ReshardStep = step === 'commit' || step === 'ready' ? { step, next, reshard, quiesced } : { step, next, reshard };
    apply(sharded, message);
    const answers = await Promise.allSettled(nodes.map((to) => client.call(to, 'POST', shardPaths.reshard, message, callTimeoutMs, () => undefined)));
    const refused = answers.some((answer) => answer.status === 'rejected' && answer.reason instanceof ShardCallError && answer.reason.status === 409);
    return { unreached: nodes.filter((_, i) => answers[i]!.status === 'rejected'), refused };
  };
  log.info({ event: 'reshard-start', from: before.epoch, to: next.epoch, shards: next.shards }, 'reshard started');

  const frozenAt = Date.now();
  const { unreached, refused } = await broadcast('freeze');
  if (refused) {
    await broadcast('thaw');
    throw new ExpectedError('another reshard or change of the shard map is in progress; try again later', 409);
  }
  let moving: Map<number, KvEvent[]>;
  try {
    moving = new Map(next.shards.map((shard) => [shard.id, []]));
    for (const shard of before.shards) {
      const winners = new Map<string, KvEvent>();
      const agreed = await quiesce(sharded, client, limits, shard.members, new Set(unreached));
      quiesced[groupOfShard(before, shard.id)] = mergeQuiesced(next.epoch, agreed.statuses);
      for (const source of agreed.members) {
        for (const event of await exportFrom(sharded, client, limits, source, next, reshard)) {
          const held = winners.get(event.key);
          if (held === undefined || compareEvents(event, held) > 0) winners.set(event.key, event);
        }
      }
      for (const event of winners.values()) moving.get(shardOfKey(next, event.key))!.push(event);
    }
  } catch (error) {
    await broadcast('thaw');
    if (error instanceof ExpectedError) throw error;
    // A member that stopped answering between quiesce and export: nothing changed; the client may try again.
    throw new ExpectedError(`reshard: a member stopped answering while its keys were exported (${(error as Error).message}); nothing changed, try again`, 503);
  }

  // The nodes end a freeze by themselves after freezeTimeoutMs (a coordinator that died must not
  // stop writes for good): committing after that would lose the writes taken since. Give up well before.
  if (Date.now() - frozenAt > commitBeforeMs) {
    await broadcast('thaw');
    throw new ExpectedError(`reshard: freezing and exporting took over ${commitBeforeMs / 1000} s; nothing changed, try again`, 503);
  }
  const committed = await broadcast('commit');
  const uncommitted = new Set(committed.unreached);
  for (const shard of next.shards) {
    const events = moving.get(shard.id)!;
    // The members the commit reached first: one it did not reach refuses imports (409) or does not answer.
    const members = [...shard.members].sort((a, b) => Number(uncommitted.has(a)) - Number(uncommitted.has(b)));
    if (events.length > 0) await importInto(sharded, client, limits, members, events, reshard);
  }
  await broadcast('ready');
  log.info({ event: 'reshard-done', epoch: next.epoch, moved: [...moving.values()].reduce((sum, events) => sum + events.length, 0), unreached }, 'reshard done');
}

/** One step at this node itself. */
export function apply(sharded: ShardedNode, { step, next, reshard, quiesced }: ReshardStep): void {
  // Known before the commit adopts the map: a life it ends hands on what the reshard did not take.
  sharded.noteQuiesced(quiesced);
  if (step === 'freeze') sharded.freeze(next, reshard);
  else if (step === 'thaw') sharded.thaw(reshard);
  else if (step === 'commit') sharded.commit(next, reshard);
  else sharded.ready(next, reshard);
}

/**
 * Waits until the reachable members of a shard report the same delivered clock; returns them and their statuses.
 *
 * A member the freeze did not reach must also be one the others see as gone. One that still
 * answers their probes is alive and cut off from this node only: it takes writes, its group holds
 * them with a second copy, and a write that reached the group after the export would be dropped
 * with the keys that moved (found in review: "a node that missed the freeze can accept writes for
 * moving keys"). A node killed a moment ago is seen gone within about a second, and the wait goes
 * on; one still seen alive at the deadline fails the reshard, with nothing changed.
 */
async function quiesce(sharded: ShardedNode, client: ShardClient, limits: Limits, members: readonly Address[], unfrozen: ReadonlySet<Address>): Promise<{ members: Address[]; statuses: GroupStatus[] }> {
  const deadline = Date.now() + quiesceTimeoutMs;
  let seenAlive: { unfrozen: Address; by: Address } | undefined;
  while (Date.now() < deadline) {
    const statuses = await Promise.allSettled(
      members.map((member) => groupStatusOf(sharded, client, limits, member, callTimeoutMs)),
    );
    const reached: { member: Address; status: GroupStatus }[] = [];
    statuses.forEach((answer, i) => {
      if (answer.status === 'fulfilled') reached.push({ member: members[i]!, status: answer.value });
    });
    seenAlive = undefined;
    for (const { member, status } of reached) {
      const alive = status.live?.find((address) => unfrozen.has(address));
      if (alive !== undefined) seenAlive = { unfrozen: alive, by: member };
    }
    const first = reached[0];
    if (seenAlive === undefined && first !== undefined && reached.every(({ status }) => status.joined && clockCovers(status.clock, first.status.clock) && clockCovers(first.status.clock, status.clock))) {
      return { members: reached.map(({ member }) => member), statuses: reached.map(({ status }) => status) };
    }
    await sleep(pollIntervalMs);
  }
  if (seenAlive !== undefined) {
    throw new ExpectedError(
      `reshard: ${seenAlive.unfrozen} did not take the freeze, yet ${seenAlive.by} sees it alive (is it cut off from this node?); it could take writes that would not move with their keys; nothing changed, try again`,
      503,
    );
  }
  throw new ExpectedError(`reshard: the members of shard ${members.join(', ')} did not agree on their writes in time; nothing changed`, 503);
}

async function exportFrom(sharded: ShardedNode, client: ShardClient, limits: Limits, source: Address, next: ShardMap, reshard: string): Promise<KvEvent[]> {
  const out: KvEvent[] = [];
  const limit = limits.snapshotChunkKeysMax;
  for (let offset = 0; ; offset += limit) {
    const page =
      source === sharded.self
        ? sharded.exportPage(next, reshard, offset, limit)
        : await client.call(source, 'POST', shardPaths.export, { next, reshard, offset, limit }, callTimeoutMs, (body) => parseExportReply(body, limits));
    if (page === undefined) throw new ExpectedError('reshard: the freeze ended before the keys were exported; nothing changed', 503);
    out.push(...page.events);
    if (offset + limit >= page.total) return out;
  }
}

/** Sends a shard's arriving entries, a page at a time, to its members in this order (the next one when one fails or takes over importCallTimeoutMs), until all are written or importTimeoutMs has passed. */
async function importInto(sharded: ShardedNode, client: ShardClient, limits: Limits, members: readonly Address[], events: readonly KvEvent[], reshard: string): Promise<void> {
  const deadline = Date.now() + importTimeoutMs;
  const limit = limits.snapshotChunkKeysMax;
  let attempt = 0;
  for (let offset = 0; offset < events.length; ) {
    const page = events.slice(offset, offset + limit);
    const member = members[attempt % members.length]!;
    try {
      if (member === sharded.self) await importHere(sharded, page, reshard);
      else await client.call(member, 'POST', shardPaths.import, { events: page, reshard }, Math.max(1, Math.min(importCallTimeoutMs, deadline - Date.now())), () => undefined);
      offset += limit;
    } catch (error) {
      attempt++;
      if (Date.now() > deadline) throw new ExpectedError(`reshard: shard ${members.join(', ')} took no keys in time (${(error as Error).message}); retry the reshard`, 503);
      await sleep(pollIntervalMs * 4);
    }
  }
}

/**
 * Entries arriving by `reshard`, written at this node: only while that reshard is the one whose
 * keys arrive here (409 once it is ready, or another took over its moves: a late page must not
 * overwrite what clients wrote since).
 */
export async function importHere(sharded: ShardedNode, events: readonly KvEvent[], reshard: string): Promise<void> {
  if (!sharded.takesImportsOf(reshard)) throw new ExpectedError(`not taking keys for reshard ${reshard} (it is over here, or another took over)`, 409);
  for (const event of events) {
    if (shardOfKey(sharded.map, event.key) !== sharded.shard) throw new ExpectedError(`key ${JSON.stringify(event.key)} is not this shard's (map epoch ${sharded.map.epoch})`, 409);
  }
  await sharded.importEvents(events);
}
