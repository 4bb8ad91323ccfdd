import type { Address } from '../../events/ids.ts';
import { eventId, type KvEvent } from '../../events/kv-event.ts';
import type { Limits } from '../../events/limits.ts';
import { compareAddresses, groupOfShard, groupsOf, membersOf, nextEpoch, placesKeysAlike, removeNode, shardOfKey, shardOfNode, type ShardMap } from '../../events/shard-map.ts';
import { quiescedGroupsMax, type GroupStatus, type HandoffReply, type QuiescedClocks, type QuiescedGroup, type ShardMapState } from '../../events/shard-messages.ts';
import { mergeClocks, type VectorClock } from '../../events/vector-clock.ts';
import { groupOf, type ReplicaId } from '../../events/ids.ts';
import { ExpectedError } from '../../events/expected-error.ts';
import { ValidationError } from '../../events/validation-error.ts';
import type { Logger } from '../node/logger.ts';
import type { NodeHost } from '../node/node-host.ts';
import type { ReplicaNode } from '../node/replica-node.ts';
import type { Clock } from '../node/clock.ts';
import type { TimerHandle, Timers } from '../node/timers.ts';
import { mergeQuiesced, quiescedCovers, quiescedTook } from './quiesced.ts';
import { StrandedWrites } from './stranded-writes.ts';
import { RunningReshards } from './running-reshards.ts';

/** A map's epoch and shards as one string: two reshards to the same epoch are the same one only if they make the same map. */
function layoutOf(map: ShardMap): string {
  return JSON.stringify(map);
}

interface OwnChange {
  readonly epoch: number;
  readonly apply: (map: ShardMap) => ShardMap;
  readonly why: string;
}

/**
 * Between two maps of the same epoch, the one every node follows: a reshard's (keys moved under
 * it) over any other change's; else the greater as text (any order all nodes compute alike would do).
 */
export function winsTie(candidate: { map: ShardMap; byReshard: boolean }, current: { map: ShardMap; byReshard: boolean }): boolean {
  if (candidate.byReshard !== current.byReshard) return candidate.byReshard;
  return layoutOf(candidate.map) > layoutOf(current.map);
}

/**
 * A reshard committed this long ago and still not ready is taken for dead (its coordinator
 * crashed): another reshard may then start, and moves its keys. A live one imports a page of keys
 * in well under a second.
 */
export const unfinishedReshardMs = 10_000;
/** Most maps of reshards learned of without their steps whose keys a life keeps (learnReshardWithoutSteps). */
const learnedMapsMax = 8;

/**
 * Most ids of handed-off writes a node remembers having written (takeHandoff): a sender that
 * retries a page whose answer it lost, at the same member, finds them taken.
 */
const handedOffIdsMax = 100_000;

/** A freeze that no commit follows ends by itself after this long: a coordinator that died must not stop writes for good. */
const freezeTimeoutMs = 30_000;
/**
 * How often a frozen node asks the reshard's coordinator whether it still runs (after the last
 * answer): a freeze that reached it late, after the reshard gave up, ends about this long after.
 */
export const freezeCheckEveryMs = 1_000;

export interface ShardedNodeOptions {
  readonly self: Address;
  readonly map: ShardMap;
  readonly view: readonly Address[];
  readonly limits: Limits;
  readonly timers: Timers;
  readonly clock: Clock;
  readonly log: Logger;
  /** A new life: its incarnation (with the group's tag when `group` is set) and the node, not started. */
  readonly makeNode: (group: string | undefined, view: readonly Address[]) => ReplicaNode;
  /** Asks the coordinator of `reshard` whether it still runs it: undefined when there is no answer (it is down, or cut off). */
  readonly askReshardRunning: (reshard: string) => Promise<boolean | undefined>;
}

/** The freeze this node is under: by which reshard, to which epoch, and its timers. */
interface Freeze {
  readonly epoch: number;
  readonly reshard: string;
  /** Ends the freeze at freezeTimeoutMs. */
  readonly timer: TimerHandle;
  /** The next question to the coordinator (none while one is out). */
  check: TimerHandle | undefined;
}

/** /debug/state's `sharding` (and the debug page's Shards card). */
export interface ShardingDescription {
  readonly epoch: number;
  /** This node's shard, or null when it is in none. */
  readonly shard: number | null;
  readonly map: ShardMap['shards'];
  /** The cluster's nodes. */
  readonly view: readonly Address[];
  /** Live keys of this node's shard held here. */
  readonly shardKeys: number;
  readonly writesFrozen: boolean;
  readonly keysArriving: boolean;
  /** Writes acknowledged here that a reshard did not take, not yet handed to their keys' shard (handoff.ts). */
  readonly handingOff: number;
  /** Keys delivered here that this shard does not own under this map (core/unowned-keys.ts): held aside, and not held (over the bound). */
  readonly unownedKeys: { readonly held: number; readonly dropped: number };
  readonly forwarded: number;
  readonly forwardFailures: number;
}

/** Counters of /metrics. */
export interface ShardCounters {
  forwarded: number;
  forwardFailures: number;
}

/**
 * One node of a sharded store (docs/API.md "Sharding"): the cluster's nodes, the shard map this
 * node follows, and the replica group it serves, a ReplicaNode running the unsharded protocol
 * unchanged among its shard's members. A node in no shard runs a group of itself alone, which
 * serves nothing (every key is another shard's).
 *
 * The map changes by epoch: a newer map is adopted, an older one ignored. A node whose shard
 * changes ends its group life and starts a new one in its new group (a new incarnation, tagged
 * with the group: events/ids.ts), which joins as any replica does, by pulling a snapshot.
 * During a reshard (reshard.ts): `freeze` refuses writes; `commit` adopts the next map, refusing
 * reads and writes of the keys that move into this shard until `ready`, when they have arrived;
 * `ready` drops the keys that moved away.
 */
export class ShardedNode implements NodeHost {
  readonly self: Address;
  readonly counters: ShardCounters = { forwarded: 0, forwardFailures: 0 };
  /** The last change of the map made here, while a map of its epoch may still win over it. */
  private ownChange: OwnChange | undefined;
  /** Called when a change made here was made again (change()): the map is to be spread. */
  onOwnChangeRemade: (() => void) | undefined;
  private current: ReplicaNode;
  private shardMap: ShardMap;
  private readonly cluster = new Set<Address>();
  private readonly options: ShardedNodeOptions;
  /** The reshard (its next map, by epoch and layout) whose freeze is on: writes answer 503. */
  private frozen: Freeze | undefined;
  /** A question to a coordinator is out (askWhetherFreezeRuns): one at a time. */
  private askingCoordinator = false;
  /** The reshards this node coordinates now (reshard.ts), for the nodes they froze to ask about. */
  readonly coordinating = new RunningReshards();
  /** The reshard whose keys are arriving here (committed, not ready): the only one whose imports are taken. */
  private arrivingBy: string | undefined;
  /** The map followed was made by a reshard's commit (adopt: it wins ties). */
  private mapByReshard = false;
  /**
   * After a commit and until ready: the maps before it; keys that moved into this shard under any
   * of them are not here yet. More than one when a reshard never reached ready (its coordinator
   * died) and another was committed over it: its keys arrive with the later one.
   */
  private arriving: ShardMap[] = [];
  /** When the latest commit left keys arriving here (clock ms). */
  private arrivingSince = 0;
  /**
   * Maps of reshards this node learned of without their steps (gossip, PUT /internal/shard/map)
   * while staying in its group: its life still holds their keys (a commit elsewhere that stalls is
   * finished from them), until a ready here drops what is not this shard's.
   */
  private learnedWithoutSteps: ShardMap[] = [];
  /** Set while commit() adopts its map: the commit keeps the keys itself. */
  private committing = false;
  /** Moving entries, sorted by key, per reshard epoch: pages of one export are cut from the same list. */
  private exportCache: { readonly epoch: number; readonly events: readonly KvEvent[] } | undefined;
  /** Per group, the clock the latest reshard quiesced it at (QuiescedClocks), the most recently noted groups last. */
  private readonly quiesced = new Map<string, QuiescedGroup>();
  /** Writes this node's lives took that no reshard took with their keys: handed to their keys' shard by handoff.ts. */
  readonly stranded = new StrandedWrites();
  /** Ids of handed-off writes written here (takeHandoff), the newest last. */
  private readonly handedOff = new Set<string>();

  constructor(options: ShardedNodeOptions) {
    this.options = options;
    this.self = options.self;
    this.shardMap = options.map;
    for (const address of [...options.view, ...options.map.shards.flatMap((shard) => shard.members), options.self]) this.cluster.add(address);
    this.current = this.newLife();
  }

  get node(): ReplicaNode {
    return this.current;
  }

  get map(): ShardMap {
    return this.shardMap;
  }

  /** This node's shard, or undefined when it is in none. */
  get shard(): number | undefined {
    return shardOfNode(this.shardMap, this.self);
  }

  view(): Address[] {
    return [...this.cluster].sort(compareAddresses);
  }

  inView(address: Address): boolean {
    return this.cluster.has(address);
  }

  start(): void {
    this.current.start();
  }

  stop(): void {
    this.endFreeze();
    this.current.stop();
  }

  state(): ShardMapState {
    const quiesced = this.quiesced.size === 0 ? {} : { quiesced: Object.fromEntries(this.quiesced) };
    return { map: this.shardMap, view: this.view(), byReshard: this.mapByReshard, from: this.self, ...quiesced };
  }

  /**
   * Learns what reshards took from each group (from a commit or ready, or with a map spread by
   * gossip): before a map is adopted, so that a life the map ends, or keys it moves away, hand on
   * what no reshard took (strand). A group quiesced by a later reshard has a later clock, which
   * replaces the earlier one. Writes stranded while no such clock was known are cut down to what
   * the reshard did not take, and handed on.
   */
  noteQuiesced(quiesced: QuiescedClocks | undefined): void {
    if (quiesced === undefined) return;
    for (const group in quiesced) {
      const known = this.quiesced.get(group);
      const noted = quiesced[group]!;
      if (known !== undefined && known.epoch > noted.epoch) continue;
      this.quiesced.delete(group);
      if (known !== undefined && quiescedCovers(known, noted)) {
        this.quiesced.set(group, known); // nothing new: no merge, and every batch it could confirm already was
        continue;
      }
      const merged = known?.epoch === noted.epoch ? mergeQuiesced(noted.epoch, [known, noted]) : noted;
      this.quiesced.set(group, merged);
      const kept = this.stranded.confirm(group, merged, (event) => quiescedTook(merged, event));
      if (kept > 0) this.options.log.warn({ event: 'reshard-writes-stranded', group, epoch: merged.epoch, count: kept }, "writes acknowledged here that a reshard did not take (its clock came after its map): handing them to their keys' shard");
    }
    for (const group of this.quiesced.keys()) {
      if (this.quiesced.size <= quiescedGroupsMax) break;
      this.quiesced.delete(group);
    }
  }

  status(): GroupStatus {
    const core = this.current.core;
    const retired = core.retiredRecord();
    return { epoch: this.shardMap.epoch, shard: this.shard ?? null, clock: core.clock, joined: core.joined, live: core.view(), ...(Object.keys(retired).length === 0 ? {} : { retired }) };
  }

  /** /debug/state's `sharding`: the map, this node's shard, what a reshard is doing here, and the counters. */
  describe(): ShardingDescription {
    const shard = this.shard;
    return {
      epoch: this.shardMap.epoch,
      shard: shard ?? null,
      map: this.shardMap.shards,
      view: this.view(),
      shardKeys: shard === undefined ? 0 : this.current.core.liveKeysOf((key) => shardOfKey(this.shardMap, key) === shard),
      writesFrozen: this.writesFrozen,
      keysArriving: this.arriving.length > 0,
      handingOff: this.stranded.size,
      unownedKeys: this.current.core.unownedKeys,
      ...this.counters,
    };
  }

  /** The shard of `key` under the map followed now. */
  shardOf(key: string): number {
    return shardOfKey(this.shardMap, key);
  }

  /** Writes are refused (503) while a reshard moves keys. */
  get writesFrozen(): boolean {
    return this.frozen !== undefined;
  }

  /** How long keys of a committed reshard have been arriving here (0: none are). */
  get arrivingForMs(): number {
    return this.arriving.length === 0 ? 0 : this.options.clock.now() - this.arrivingSince;
  }

  /** `key` moved into this shard in the reshard being finished and is not here yet: answered 503 until it is. */
  arrivingKey(key: string): boolean {
    if (this.arriving.length === 0) return false;
    const shard = shardOfKey(this.shardMap, key);
    return this.arriving.some((before) => shardOfKey(before, key) !== shard);
  }

  /**
   * Metadata handed to a client: without the entries of groups the map no longer has (their keys
   * moved to other groups, whose events carry them in `foreign`; no node will ever wait for them).
   */
  withoutGoneGroups(metadata: VectorClock): VectorClock {
    const groups = groupsOf(this.shardMap);
    let out: Record<string, number> | undefined;
    for (const id in metadata) {
      const group = groupOf(id as ReplicaId);
      if (group === '' || groups.has(group)) continue;
      out ??= { ...metadata };
      delete out[id];
    }
    return out === undefined ? metadata : (out as VectorClock);
  }

  // ------------------------------------------------------------------ the cluster and its map

  /** A node announced itself (PUT /view): it is in the cluster; whether in a shard is the map's business. */
  addToCluster(address: Address): boolean {
    if (this.cluster.has(address)) return false;
    this.cluster.add(address);
    return true;
  }

  /** A node left the view (DELETE /view by a client): it leaves the cluster and its shard. */
  removeFromCluster(address: Address): boolean {
    if (!this.cluster.delete(address)) return false;
    // A node of no shard leaves the map as it is, but the view travels only with a newer map: the next epoch.
    this.change((map) => {
      const next = removeNode(map, address);
      return next === map ? nextEpoch(map) : next;
    }, 'node removed');
    return true;
  }

  /**
   * A change of the map made at this node (add-member, a client's DELETE /view): `apply` makes it
   * on the map followed now, and the result is followed. If a map of the same epoch made elsewhere
   * at the same moment wins over it (adopt), the change is made again on that map, at the next
   * epoch, and onOwnChangeRemade is called to spread it. Returns whether the map changed.
   */
  change(apply: (map: ShardMap) => ShardMap, why: string): boolean {
    const next = apply(this.shardMap);
    if (next === this.shardMap || !this.adopt(next, why)) return false;
    this.ownChange = { epoch: next.epoch, apply, why };
    return true;
  }

  /**
   * Follows `map` if it is newer than the one followed now; `view` adds nodes to the cluster. Two
   * changes made at once at two nodes (two add-members, say) make two maps of the same epoch: every
   * node follows the same one of them (winsTie), and the change that lost is made again on it by
   * the node that made it (change()).
   * Changing shard ends this group life and starts another in the new group. Returns whether it was adopted.
   */
  adopt(map: ShardMap, why: string, view: readonly Address[] = [], byReshard = false, from?: Address): boolean {
    if (map.epoch < this.shardMap.epoch || (map.epoch === this.shardMap.epoch && !winsTie({ map, byReshard }, { map: this.shardMap, byReshard: this.mapByReshard }))) {
      // A node announcing itself (or gossiping) with a map no newer joins the cluster; the rest of
      // its view does not: a node a client removed would come back with any node whose VIEW lists it.
      for (const address of from === undefined ? view : [from]) this.cluster.add(address);
      return false;
    }
    // A newer map comes with its sender's cluster, which replaces this one: a node a client removed
    // (DELETE /view, which makes a new map) leaves every node's cluster, not only the one asked.
    if (view.length > 0) {
      this.cluster.clear();
      for (const address of [...view, this.self]) this.cluster.add(address);
    }
    const before = this.shardMap;
    const groupBefore = this.groupIn(before);
    this.shardMap = map;
    this.mapByReshard = byReshard;
    for (const shard of map.shards) for (const member of shard.members) this.cluster.add(member);
    const groupAfter = this.groupIn(map);
    // A reshard came between the two maps: keys moved, or the map is a reshard's commit.
    const reshardSince = byReshard || !placesKeysAlike(before, map);
    this.options.log.info({ event: 'shard-map', epoch: map.epoch, why, shard: this.shard ?? null, map: map.shards }, 'shard map adopted');
    if (groupAfter !== groupBefore) {
      const old = this.current;
      if (groupBefore !== undefined && reshardSince) this.strand(old, groupBefore, before.epoch, () => true);
      this.learnedWithoutSteps = []; // the new life holds only the keys of the map it starts with
      this.current = this.newLife();
      this.current.onLocalWrite = old.onLocalWrite;
      this.current.onRemoteDelivery = old.onRemoteDelivery;
      this.current.onPushOutcome = old.onPushOutcome;
      old.stop();
      this.current.start();
    } else if (groupAfter !== undefined) {
      // Same group: members that left it leave its view (those that joined announce themselves).
      const members = new Set(membersOf(map, this.shard!));
      for (const address of this.current.core.view()) {
        if (!members.has(address)) this.current.handle({ rpc: 'view-delete', request: { address } });
      }
      if (!placesKeysAlike(before, map)) {
        const shard = this.shard!;
        this.strand(this.current, groupAfter, before.epoch, (key) => shardOfKey(map, key) !== shard);
        if (!this.committing) this.learnReshardWithoutSteps(before);
      }
    }
    const lost = this.ownChange;
    if (lost !== undefined && map.epoch === lost.epoch && map !== before) this.remake(lost);
    return true;
  }

  /**
   * A map whose reshard moved keys reached this node by gossip (it missed the freeze, commit and
   * ready: it was cut off, say), and it stays in its group. Its group's other members may already
   * hold the keys that arrived and take writes for them: this life must keep their events, or it
   * would count them delivered and never hold them (keys answered 404 here, for good). It also keeps
   * the keys it had (a reshard still running elsewhere may need them exported again), until a ready
   * here drops what is not this shard's.
   */
  private learnReshardWithoutSteps(before: ShardMap): void {
    this.learnedWithoutSteps.push(before);
    // Bounded: the keys only of the oldest maps missed go first (copies no reshard exports any more: see importEvents).
    if (this.learnedWithoutSteps.length > learnedMapsMax) this.learnedWithoutSteps.shift();
    this.keepKeysOf([...this.arriving, ...this.learnedWithoutSteps, this.shardMap]);
    this.options.log.warn({ event: 'reshard-learned-without-steps', from: before.epoch, epoch: this.shardMap.epoch }, 'a reshard happened without this node: keeping the keys of both maps until the next one finishes here');
  }

  /**
   * A reshard ran since the map of epoch `since` that this node followed, and the map now adopted
   * ends `life` (of `group`) or moves keys away from it. The entries of `life` whose keys `leaving`
   * accepts and that the reshard did not take (beyond the clock it quiesced the group at, and not
   * of a life retired past them) were acknowledged by this node alone while the reshard ran
   * without it (cut off, it missed the freeze and its shard's other members saw it gone): they
   * would be lost with the life, or with the keys that moved, and are handed to the keys' shard
   * (handoff.ts). None after a reshard this node took part in: its writes were all quiesced.
   * When the map came without that clock (gossip from a node that started after the reshard), every
   * such entry is held, and cut down once the clock arrives (noteQuiesced; handoff.ts gives up
   * waiting after a while).
   */
  private strand(life: ReplicaNode, group: string, since: number, leaving: (key: string) => boolean): void {
    const quiesced = this.quiesced.get(group);
    const known = quiesced !== undefined && quiesced.epoch > since ? quiesced : undefined;
    const events = life.core.entriesOf(leaving).filter((event) => !life.core.retiredPast(event.origin, event.seq) && (known === undefined || !quiescedTook(known, event)));
    if (events.length === 0) return;
    const refused = this.stranded.add(group, life.core.id, events, this.options.clock.now(), known === undefined ? { awaitingClockAfter: since } : { quiesced: known });
    this.options.log.warn(
      { event: known === undefined ? 'reshard-writes-held' : 'reshard-writes-stranded', group, epoch: known?.epoch, count: events.length, refused },
      known === undefined
        ? 'a reshard ran without this node, and its clock has not reached it yet: holding its writes until it does'
        : "writes acknowledged here that a reshard did not take: handing them to their keys' shard",
    );
  }

  /** This life keeps (and takes events of) the keys this shard has under any of `maps`, and no others. */
  private keepKeysOf(maps: readonly ShardMap[]): number {
    const shard = this.shard!;
    return this.current.core.keepOnlyKeys((key) => maps.some((map) => shardOfKey(map, key) === shard));
  }

  /** Makes a change of this node's again on the map that won over it (see change()). */
  private remake(lost: OwnChange): void {
    this.ownChange = undefined;
    let again: ShardMap;
    try {
      again = lost.apply(this.shardMap);
    } catch (error) {
      // The winning map makes it impossible (the node joined another shard there, say): it stays undone.
      this.options.log.warn({ event: 'shard-map-change-lost', why: lost.why, err: error }, 'a change of the shard map made here lost to another made at once, and cannot be made again');
      return;
    }
    if (again === this.shardMap) return; // the winning map has it too
    this.options.log.info({ event: 'shard-map-change-remade', why: lost.why, epoch: again.epoch }, 'a change of the shard map made here lost to another made at once: made again');
    if (this.adopt(again, lost.why)) this.ownChange = { ...lost, epoch: again.epoch };
    this.onOwnChangeRemade?.();
  }

  // ------------------------------------------------------------------ a reshard's steps, as a participant

  /**
   * Refuses writes for `reshard`, to `next`. Two changes of the map must not race to the same
   * epoch: a freeze for another reshard (even one to the same map: two coordinators finishing the
   * same stalled reshard), or for an epoch that is not the next one here, is refused (409), and the
   * reshard that asked backs off; the same freeze again is accepted.
   */
  freeze(next: ShardMap, reshard: string): void {
    if (next.epoch !== this.shardMap.epoch + 1) {
      throw new ExpectedError(`another change of the shard map came first (this node follows epoch ${this.shardMap.epoch}); try again`, 409);
    }
    if (this.frozen !== undefined && this.frozen.reshard !== reshard) throw new ExpectedError('another reshard is in progress; try again later', 409);
    // Keys of a committed reshard are still arriving: it is running, unless it has been at it so
    // long that its coordinator must have died (then this reshard finishes its moves: see reshard.ts).
    if (this.arriving.length > 0 && this.options.clock.now() - this.arrivingSince < unfinishedReshardMs) {
      throw new ExpectedError('another reshard is in progress; try again later', 409);
    }
    this.endFreeze();
    const timer = this.options.timers.after(freezeTimeoutMs, () => {
      if (this.frozen?.reshard !== reshard) return;
      this.endFreeze();
      this.options.log.warn({ event: 'reshard-freeze-expired', epoch: next.epoch, reshard }, 'a reshard froze writes and never committed: writes go on');
    });
    const freeze: Freeze = { epoch: next.epoch, reshard, timer, check: undefined };
    this.frozen = freeze;
    this.checkFreezeLater(freeze);
    this.exportCache = undefined;
  }

  private checkFreezeLater(freeze: Freeze): void {
    freeze.check = this.options.timers.after(freezeCheckEveryMs, () => this.askWhetherFreezeRuns(freeze));
  }

  /**
   * Asks the coordinator whether the reshard of `freeze` still runs, and thaws when it answers
   * that it does not: the freeze may have reached this node late, after the reshard gave up, and
   * the thaw sent then was lost (a cut link that healed). No answer leaves the freeze on: the
   * coordinator may be running the reshard behind a slow link, and freezeTimeoutMs ends it anyway.
   * An answer that comes after the freeze ended, or another took its place, is ignored.
   */
  private askWhetherFreezeRuns(freeze: Freeze): void {
    freeze.check = undefined;
    if (this.frozen !== freeze) return;
    if (this.askingCoordinator) {
      // The question of a freeze this one replaced is still out: ask after it.
      this.checkFreezeLater(freeze);
      return;
    }
    this.askingCoordinator = true;
    this.options
      .askReshardRunning(freeze.reshard)
      .catch(() => undefined)
      .then((running) => {
        this.askingCoordinator = false;
        if (this.frozen !== freeze) return;
        if (running !== false) {
          this.checkFreezeLater(freeze);
          return;
        }
        this.endFreeze();
        this.options.log.warn({ event: 'reshard-freeze-orphaned', epoch: freeze.epoch, reshard: freeze.reshard }, 'frozen for a reshard its coordinator no longer runs (its thaw was lost): writes go on');
      });
  }

  /** Ends the freeze on now, if any, and its timers. */
  private endFreeze(): void {
    this.frozen?.timer.cancel();
    this.frozen?.check?.cancel();
    this.frozen = undefined;
  }

  /** A reshard is moving keys: frozen for it, or committed and not ready. Other map changes (add-member) wait. */
  get reshardInProgress(): boolean {
    return this.frozen !== undefined || this.arriving.length > 0;
  }

  thaw(reshard: string): void {
    if (this.frozen?.reshard === reshard) this.endFreeze();
  }

  /** Adopts the next map; keys arriving here wait for `ready`, and only `reshard`'s imports are taken. Writes of other keys go on. */
  commit(next: ShardMap, reshard: string): void {
    const before = this.shardMap;
    const groupBefore = this.groupIn(before);
    this.committing = true;
    let adopted: boolean;
    try {
      adopted = this.adopt(next, 'reshard', [], true);
    } finally {
      this.committing = false;
    }
    if (adopted) {
      this.arriving.push(before);
      this.arrivingSince = this.options.clock.now();
      this.arrivingBy = reshard;
      // A node that stays in its group holds, until ready, the keys it had under every map not yet
      // finished (a reshard that never reached ready left keys here that this one moves on) and the keys arriving.
      if (this.shard !== undefined && this.groupIn(next) === groupBefore) this.keepKeysOf([...this.arriving, ...this.learnedWithoutSteps, next]);
    }
    if (this.frozen?.reshard === reshard) this.endFreeze();
  }

  /** Whether entries arriving by `reshard` are taken here: it committed here, no other took over, and it is not ready yet. */
  takesImportsOf(reshard: string): boolean {
    return this.arrivingBy === reshard;
  }

  /** The keys have arrived: serve them, and forget the keys that left this shard. */
  ready(next: ShardMap, reshard: string): void {
    // Another reshard took over this one's moves (it stalled): only the other's ready ends them.
    if (next.epoch !== this.shardMap.epoch || (this.arrivingBy !== undefined && this.arrivingBy !== reshard)) return;
    this.arriving = [];
    this.arrivingBy = undefined;
    this.learnedWithoutSteps = [];
    this.exportCache = undefined;
    const shard = this.shard;
    if (shard === undefined) return;
    const dropped = this.keepKeysOf([next]);
    this.options.log.info({ event: 'reshard-ready', epoch: next.epoch, shard, dropped }, 'reshard finished here');
  }

  /**
   * The entries (winning put or tombstone) of the keys that leave this shard under `next`, sorted
   * by key, a page at a time. Only while frozen for `next`: no write can change them meanwhile.
   */
  exportPage(next: ShardMap, reshard: string, offset: number, limit: number): { events: readonly KvEvent[]; total: number } | undefined {
    if (this.frozen?.reshard !== reshard) return undefined;
    const shard = this.shard;
    if (this.exportCache?.epoch !== next.epoch) {
      const leaving = shard === undefined ? [] : this.current.core.entriesOf((key) => shardOfKey(next, key) !== shard);
      leaving.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      this.exportCache = { epoch: next.epoch, events: leaving };
    }
    return { events: this.exportCache.events.slice(offset, offset + limit), total: this.exportCache.events.length };
  }

  /**
   * Writes entries arriving in a reshard as events of this group (a put, or a tombstone), each
   * depending on everything the old entry did; resolves once all are acknowledged. An entry of a
   * key this shard already had under every map before the reshard is not taken: the key did not
   * move here, so this shard's own entry is the one that counts (clients may have written it since),
   * and the exported one is a copy a member of another shard kept since an earlier reshard whose
   * ready it missed. Written as a new event here, that old copy would win over the newer writes.
   */
  importEvents(events: readonly KvEvent[]): Promise<void> {
    const node = this.current;
    const shard = this.shard;
    const arrived = events.filter((event) => !this.arriving.every((before) => shardOfKey(before, event.key) === shard));
    if (arrived.length < events.length) {
      this.options.log.warn({ event: 'reshard-import-skipped', skipped: events.length - arrived.length }, 'entries of keys that did not move here were not imported (stale copies from another shard)');
    }
    return Promise.all(
      arrived.map(
        (event) =>
          new Promise<void>((resolve, reject) =>
            node.write(event.key, event.type === 'put' ? event.value : undefined, ShardedNode.importMetadata(event), (answer) => (answer.ok ? resolve() : reject(answer.error)), true),
          ),
      ),
    ).then(() => undefined);
  }

  /**
   * Writes of `group` that a reshard did not take, handed here by the node that took them (see
   * strand), for keys this shard owns: each is written as an event of this group (a put or a
   * tombstone), like an import, unless it was taken already: the reshard's export had it (the
   * clock it quiesced the group at covers it: `strandedWith`, the sender's, or this node's latest), this group delivered it itself, the key's entry here depends
   * on it (an earlier hand-off of it, or a write that read that), or this node wrote it from an
   * earlier page whose answer was lost. Resolves once all are acknowledged.
   */
  async takeHandoff(group: string, events: readonly KvEvent[], strandedWith?: QuiescedGroup): Promise<HandoffReply> {
    const shard = this.shard;
    if (shard === undefined) throw new ExpectedError('this node is in no shard', 409);
    if (this.writesFrozen) throw new ExpectedError('a reshard is in progress; try again later', 503);
    if (!this.current.core.joined) throw new ExpectedError('this node has not joined its shard yet; try again later', 503);
    // The clock the sender cut them down with, when it had one: a later reshard's would count as
    // taken the writes the group delivered after the cut healed (without keeping their keys).
    const quiesced = strandedWith ?? this.quiesced.get(group);
    if (quiesced === undefined) throw new ExpectedError(`this node does not know what reshards took from group ${group} yet; try again later`, 503);
    for (const event of events) {
      if (groupOf(event.origin) !== group) throw new ValidationError(`event ${eventId(event)} is not of group ${group}`);
      if (shardOfKey(this.shardMap, event.key) !== shard) throw new ExpectedError(`key ${JSON.stringify(event.key)} is not this shard's (map epoch ${this.shardMap.epoch})`, 409);
      if (this.arrivingKey(event.key)) throw new ExpectedError('keys are arriving here in a reshard; try again later', 503);
    }
    const node = this.current;
    const ownGroup = groupOfShard(this.shardMap, shard);
    const fresh = events.filter((event) => !quiescedTook(quiesced, event) && !this.handedOff.has(eventId(event)) && !this.holds(node, ownGroup, event));
    const written = (event: KvEvent): void => {
      this.handedOff.add(eventId(event));
      if (this.handedOff.size > handedOffIdsMax) this.handedOff.delete(this.handedOff.values().next().value!);
    };
    const write = (event: KvEvent) =>
      new Promise<void>((resolve, reject) => {
        const value = event.type === 'put' ? event.value : undefined;
        node.write(event.key, value, handoffMetadata(event, ownGroup, node.core.clock), (answer) => (answer.ok ? resolve(written(event)) : reject(answer.error)), true);
      });
    await Promise.all(fresh.map(write));
    if (fresh.length > 0) this.options.log.info({ event: 'handoff-taken', group, written: fresh.length }, 'writes a reshard did not take were handed here');
    return { written: fresh.length, skipped: events.length - fresh.length };
  }

  /** This group has `event` already: delivered it (one of its own), or the key's entry depends on it. */
  private holds(node: ReplicaNode, ownGroup: string, event: KvEvent): boolean {
    if (groupOf(event.origin) === ownGroup && node.core.hasDelivered(event.origin, event.seq)) return true;
    const entry = node.core.entryOf(event.key);
    return entry !== undefined && (ShardedNode.importMetadata(entry)[event.origin] ?? 0) >= event.seq;
  }

  /** What an imported entry depends on: its own clock and what it handed on from other groups. */
  static importMetadata(event: KvEvent): VectorClock {
    return event.foreign === undefined ? event.clock : mergeClocks(event.clock, event.foreign);
  }

  // ------------------------------------------------------------------ lives

  /** The group tag of this node's shard in `map`, or undefined when it is in none. */
  private groupIn(map: ShardMap): string | undefined {
    const shard = shardOfNode(map, this.self);
    return shard === undefined ? undefined : groupOfShard(map, shard);
  }

  private newLife(): ReplicaNode {
    const shard = this.shard;
    if (shard === undefined) return this.options.makeNode(undefined, [this.self]);
    const node = this.options.makeNode(groupOfShard(this.shardMap, shard), membersOf(this.shardMap, shard));
    const map = this.shardMap;
    node.core.keepOnlyKeys((key) => shardOfKey(map, key) === shard);
    return node;
  }
}

/**
 * What a handed-off write depends on: like an import (importMetadata), less the events of this
 * group not delivered here. A handed-off write of this very group (its writer left it) names its
 * writer's earlier writes that never reached the group: they are handed on with it, or were taken.
 */
function handoffMetadata(event: KvEvent, ownGroup: string, delivered: VectorClock): VectorClock {
  const all = ShardedNode.importMetadata(event);
  let out: Record<string, number> | undefined;
  for (const id in all) {
    const here = delivered[id as ReplicaId] ?? 0;
    if (groupOf(id as ReplicaId) !== ownGroup || all[id as ReplicaId]! <= here) continue;
    out ??= { ...all };
    if (here === 0) delete out[id];
    else out[id] = here;
  }
  return out === undefined ? all : (out as VectorClock);
}
