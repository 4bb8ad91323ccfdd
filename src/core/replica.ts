import { addressOf, groupOf, groupOfIncarnation, incarnationOf, replicaId, type Address, type ReplicaId } from '../../events/ids.ts';
import type { JsonValue } from '../../events/json-value.ts';
import type { KvEvent } from '../../events/kv-event.ts';
import type { Limits } from '../../events/limits.ts';
import { checkValue, valueDepthMax } from '../../events/parse-event.ts';
import type { HealthReply, PushReply, PushRequest, RetiredRecord, SnapshotChunk, ViewChangeOrigin } from '../../events/peer-messages.ts';
import type { Outcome, PeerExchange, PeerMessage, ReplyOf, RpcName, SnapshotPull, ViewChangeReply } from '../../events/peer-rpc.ts';
import { ValidationError } from '../../events/validation-error.ts';
import { clockCovers, clockSum, emptyClock, mergeClocks, meetClocks, type VectorClock } from '../../events/vector-clock.ts';
import { assert, InvariantViolation } from './assert.ts';
import { compareEvents, placeOf } from './conflict-order.ts';
import { Custody } from './custody.ts';
import { FailureDetector } from './failure-detector.ts';
import { Joining, type JoinState } from './joining.ts';
import { applyEvents, dropStableTombstones, emptyView, forgetKeys, lookup, mergeSnapshot, viewEntries, type KvView } from './kv-view.ts';
import { LinkState, type LinkDescription } from './link-state.ts';
import { compareAddresses, Membership, type MemberState } from './membership.ts';
import { mergeBySum } from './merge-by-sum.ts';
import { OperationLog } from './operation-log.ts';
import { PendingBuffer } from './pending-buffer.ts';
import type { ProtocolSettings } from './protocol-settings.ts';
import { PushPipeline } from './push-pipeline.ts';
import { RecentlyFolded } from './recently-folded.ts';
import { compareIncarnations, RetiredLives } from './retired-lives.ts';
import { ServedSnapshots } from './served-snapshots.ts';
import { snapshotChunkEntries, type SnapshotSource } from './snapshot-source.ts';
import { Stability } from './stability.ts';
import { UnownedKeys } from './unowned-keys.ts';
import { WriteAcks, type ParkOutcome, type TakenWrites } from './write-acks.ts';
import { WritesBeforeCatchUp } from './writes-before-catch-up.ts';
import { ViewFullError } from './view-full-error.ts';

export interface ReplicaConfig {
  readonly self: Address;
  /** This life's incarnation: unique per start, so event identities are never reused. */
  readonly incarnation: string;
  readonly initialView: readonly Address[];
  /** Unique per process start: a life restarted from its DATA_DIR keeps its incarnation but not its boot. */
  readonly boot: string;
  readonly limits: Limits;
  readonly settings: ProtocolSettings;
  readonly now: number;
}

/** A message for the shell to send, and when it was decided (failures of older sends are weighed by it). */
export interface Send {
  readonly to: Address;
  readonly message: PeerMessage;
  readonly sentAt: number;
  /** A bound tighter than the rpc's own timeout (a join pull ends at the join deadline). */
  readonly timeoutMs?: number;
}

/** What this replica knows and plans about one other replica: small objects, one per concern. */
interface Peer {
  readonly address: Address;
  incarnation: string | undefined;
  /** Which start of its life we last heard from (see ViewChangeOrigin.boot). */
  boot: string | undefined;
  member: MemberState;
  /** The peer's delivered clock, as its last answer stated. */
  known: VectorClock;
  /** The lives the peer has retired, as its last message stated (their entries are gone from `known`'s updates). */
  knownRetired: RetiredRecord | undefined;
  /** What the peer holds undelivered (custody, pending), as its last health answer stated. */
  undelivered: VectorClock | undefined;
  /** Of the same, per origin the lowest seq (undefined from older replicas, which do not state it). */
  undeliveredFrom: VectorClock | undefined;
  /** What the peer's storage holds, when its last answer said it was behind its delivered clock. */
  knownStored: VectorClock | undefined;
  readonly link: LinkState;
  readonly detector: FailureDetector;
  readonly pipeline: PushPipeline;
  readonly custody: Custody;
}

export interface WriteResult {
  readonly event: KvEvent;
  readonly previous: KvEvent | undefined;
  /** What the writer is handed: the event's clock, and (sharded) the other groups' entries it hands on. Covers the request's metadata. */
  readonly metadata: VectorClock;
}

export interface ReadResult {
  /** The winning put for the key, or undefined if it never existed or its winner is a delete. */
  readonly found: KvEvent | undefined;
  readonly metadata: VectorClock;
}

interface StagedSnapshot {
  readonly snapshotId: string;
  nextIndex: number;
  readonly entries: KvEvent[];
}

/** Snapshot cuts kept at once for joiners pulling them. */
const servedSnapshotsMax = 4;

/**
 * One replica's protocol state machine: the log, causal delivery, the materialized view, joining,
 * replication to each peer, membership and failure detection, custody, stability, and when a
 * write may be acknowledged. Pure: time comes in as `now`; what to send goes out of poll() as
 * messages of the wire union, and how each ended comes back through onReply(); the shell only
 * moves bytes and runs timers.
 */
export class Replica {
  readonly self: Address;
  readonly incarnation: string;
  readonly boot: string;
  readonly id: ReplicaId;
  /** This life's replica group (events/ids.ts `groupOf`): '' unsharded. Metadata entries of other groups are passed through, never waited for. */
  readonly group: string;
  private readonly limits: Limits;
  private readonly settings: ProtocolSettings;

  private deliveredClock: VectorClock = emptyClock;
  private kv: KvView = emptyView;
  private readonly log = new OperationLog();
  private readonly pending: PendingBuffer;
  private readonly peers = new Map<Address, Peer>();
  private readonly membership = new Membership();
  private readonly outbox: Send[] = [];
  private readonly stagedSnapshots = new Map<Address, StagedSnapshot>();
  private readonly servedSnapshots: ServedSnapshots;
  private snapshotCounter = 0;
  private readonly stability = new Stability(emptyClock);
  /** Events that just left the log, kept a few seconds for readers of the log (recently-folded.ts). */
  private readonly recentlyFolded = new RecentlyFolded();
  private joining: Joining | undefined;
  /** The start-up pull is over and this life was announced: requests may be served. */
  private announced = false;
  private readonly writeAcks: WriteAcks<number>;
  private nextCompactionAt: number;
  /**
   * Our own events up to this seq are stored (as durable as the storage makes them). Only these are
   * sent anywhere or acknowledged: a life restarted from its DATA_DIR must never find a peer holding
   * an event of its own that it lost, or it would make another with the same seq.
   */
  private ownStoredSeq = 0;
  /** What storage holds of what was delivered here (the same object as the delivered clock once it holds it all). */
  private storedClock: VectorClock = emptyClock;
  /** Lives whose clock entries are retired (see retired-lives.ts). */
  private readonly retired: RetiredLives;
  /** Lives known to have ended and not retired yet: since when. */
  private readonly ended = new Map<ReplicaId, number>();
  /** Lives that met every condition at the last measure, with the final seq they had then. */
  private retireCandidates = new Map<ReplicaId, number>();
  /** The greatest place in the conflict order of any event delivered here (conflict-order.ts). */
  private maxPlace = 0;
  /** Events delivered since start (own and received), for metrics. */
  deliveredCount = 0;
  /** Events that left the log, and tombstones that left the view, since start (metrics, simulation). */
  compactedEvents = 0;
  tombstonesCollected = 0;
  /** Keys put before this life caught up with its group, written again once it had (writes-before-catch-up.ts). */
  rewrittenAfterCatchUp = 0;
  /** From the start of a life with peers until it has heard from each and caught up with what they had. */
  private beforeCatchUp: WritesBeforeCatchUp | undefined;
  /**
   * Sharded store only: the keys this group holds. Events of other keys are delivered (the clock
   * counts them) but leave no value here: keys that moved to another shard in a reshard.
   */
  private ownsKey: ((key: string) => boolean) | undefined;
  /** The delivered events (and snapshot entries) of keys `ownsKey` refuses: a later map may give them to this group. */
  private readonly unowned = new UnownedKeys();
  /** Called with every batch of delivered events, in delivery order (the debug page's records, storage, tests). */
  onDelivered: ((events: readonly KvEvent[]) => void) | undefined;
  /** Called when a snapshot was installed: its effect reached the view without passing onDelivered. */
  onSnapshotInstalled: (() => void) | undefined;

  constructor(config: ReplicaConfig) {
    this.self = config.self;
    this.incarnation = config.incarnation;
    this.boot = config.boot;
    this.id = replicaId(config.self, config.incarnation);
    this.group = groupOfIncarnation(config.incarnation);
    this.limits = config.limits;
    this.settings = config.settings;
    this.pending = new PendingBuffer(config.limits.pendingEventsMax);
    this.servedSnapshots = new ServedSnapshots(servedSnapshotsMax, config.settings.servedSnapshotTtlMs);
    this.writeAcks = new WriteAcks(config.limits.causalWaitersMax, config.settings.writeAckTimeoutMs, ownStoreWaitMs);
    this.retired = new RetiredLives(4 * config.limits.viewMembersMax);
    this.nextCompactionAt = config.now + config.settings.compactionIntervalMs;
    for (const address of config.initialView) {
      if (address !== this.self) this.membership.move(this.addPeer(address, config.now), 'member');
    }
  }

  // ---------------------------------------------------------------- queries

  get clock(): VectorClock {
    return this.deliveredClock;
  }

  /** True once every event in `metadata` is delivered here, so a request carrying it may be served. */
  covers(metadata: VectorClock): boolean {
    return clockCovers(this.deliveredClock, metadata) || this.coversRetiring(this.deliveredClock, metadata);
  }

  /** `base` covers `clock`, retired entries counting as satisfied: how metadata this store hands out is to be read. */
  coversWithRetired(base: VectorClock, clock: VectorClock): boolean {
    return clockCovers(base, clock) || this.coversRetiring(base, clock);
  }

  /**
   * `base` covers `clock` once retired entries count as satisfied and other groups' entries are
   * left out (the slow path: only when plain covering fails).
   */
  private coversRetiring(base: VectorClock, clock: VectorClock): boolean {
    return coversRetiringWith(this.retired, this.group, base, clock);
  }

  /**
   * `base` covers `clock` leaving out every entry of a retired life, whatever its seq: how the
   * writes that may still arrive are to be read. Such a life's events beyond its final seq were
   * held somewhere once (pending, custody) and counted among them, but can never be delivered
   * (retireEndedLives); neither can any event that follows one of them, whose own life is ended
   * and retired in its turn.
   */
  private coversBesidesRetired(base: VectorClock, clock: VectorClock): boolean {
    for (const id in clock) {
      if ((base[id as ReplicaId] ?? 0) < clock[id as ReplicaId]! && !this.retired.isRetired(id as ReplicaId) && groupOf(id as ReplicaId) === this.group) return false;
    }
    return true;
  }

  /** Whether this replica has delivered everything a clock names, judged by what it knows now (a copy: later retirements do not change it). */
  private deliveredPredicate(): (over: VectorClock) => boolean {
    const clock = this.deliveredClock;
    const retired = new RetiredLives(Number.POSITIVE_INFINITY);
    for (const { id, seq } of RetiredLives.entries(this.retired.toRecord())) retired.add(id, seq);
    const group = this.group;
    return (over) => clockCovers(clock, over) || coversRetiringWith(retired, group, clock, over);
  }

  /** The entries of `metadata` that belong to other groups (sharded store only): what a write made here hands on in `foreign`. */
  private foreignOf(metadata: VectorClock): VectorClock | undefined {
    if (this.group === '') return undefined;
    let out: Record<string, number> | undefined;
    for (const id in metadata) {
      if (groupOf(id as ReplicaId) === this.group) continue;
      (out ??= {})[id] = metadata[id as ReplicaId]!;
    }
    return out === undefined ? undefined : (Object.freeze(out) as VectorClock);
  }

  /** `clock` without the entries of retired lives: what this store hands out. */
  private withoutRetired(clock: VectorClock): VectorClock {
    if (this.retired.size === 0) return clock;
    let out: Record<string, number> | undefined;
    for (const id in clock) {
      if (!this.retired.isRetired(id as ReplicaId)) continue;
      out ??= { ...clock };
      delete out[id];
    }
    return out === undefined ? clock : (Object.freeze(out) as VectorClock);
  }

  /** The lives retired here, as peers and storage are told of them. */
  retiredRecord(): RetiredRecord {
    return this.retired.toRecord();
  }

  private retiredField(): { retired?: RetiredRecord } {
    return this.retired.size === 0 ? {} : { retired: this.retired.toRecord() };
  }

  /** Beside every clock this replica states: its retired lives, and the writes it holds undelivered. */
  private stateFields(): { retired?: RetiredRecord; undelivered?: VectorClock; undeliveredFrom?: VectorClock } {
    const undelivered = this.undelivered();
    const behind = this.storedClock !== this.deliveredClock;
    if (undelivered === emptyClock && this.retired.size === 0 && !behind) return noFields;
    return {
      ...this.retiredField(),
      ...(undelivered === emptyClock ? {} : { undelivered, undeliveredFrom: this.undeliveredFrom() }),
      ...(behind ? { stored: this.storedClock } : {}),
    };
  }

  /** Joined the cluster: the start-up pull is over (or there was no one to pull from). */
  get joined(): boolean {
    return this.announced;
  }

  get joinState(): JoinState | undefined {
    return this.joining?.state;
  }

  get viewVersion(): number {
    return this.membership.version;
  }

  view(): Address[] {
    const members = [...this.peers.values()].filter((peer) => peer.member === 'member').map((peer) => peer.address);
    if (this.membership.selfMember) members.push(this.self);
    return members.sort(compareAddresses);
  }

  /** The peers in the view, and those out of it for now (suspected): not those a client removed. */
  private *peersInOrOutOfView(): Generator<Address> {
    for (const peer of this.peers.values()) if (peer.member !== 'removed') yield peer.address;
  }

  inView(address: Address): boolean {
    return address === this.self ? this.membership.selfMember : this.peers.get(address)?.member === 'member';
  }

  /**
   * True while some other replica is in the view, so it may yet take a new write: a write then
   * waits (bounded) until a peer holds it, delivered or in custody. Only a replica that failure
   * detection has left alone acknowledges at once (anti-entropy spreads its writes later).
   */
  hasPeerInView(): boolean {
    for (const peer of this.peers.values()) if (peer.member === 'member') return true;
    return false;
  }

  /** A peer whose link is held down but that answers probes can keep our new writes in custody. */
  private canTakeCustody(peer: Peer, now: number): boolean {
    return peer.member !== 'removed' && peer.detector.misses === 0 && peer.link.isHeldDown(now) && peer.incarnation !== undefined;
  }

  /** True when some other replica has delivered `event` (so losing this one does not lose it). */
  isReplicated(event: KvEvent): boolean {
    for (const peer of this.peers.values()) {
      if ((peer.known[event.origin] ?? 0) >= event.seq) return true;
      if (event.origin === this.id && peer.custody.keptForUsSeq >= event.seq) return true;
    }
    return false;
  }

  /**
   * Our own writes up to this seq may be acknowledged: another replica holds them (delivered, or
   * in custody), or, with no other replica in the view, all of them.
   */
  ownWritesSettledUpTo(): number {
    return Math.min(this.ownStoredSeq, this.hasPeerInView() ? this.ownSeqHeldElsewhere() : Number.POSITIVE_INFINITY);
  }

  /** Storage holds everything delivered up to `clock` (a delivered clock of this replica, as it was). */
  storedUpTo(clock: VectorClock): void {
    this.storedClock = clock;
  }

  /** Storage holds our own events up to `seq`. */
  ownStoredUpTo(seq: number): void {
    assert(seq <= (this.deliveredClock[this.id] ?? 0), `storage holds own event ${seq}, which was never made`);
    this.ownStoredSeq = Math.max(this.ownStoredSeq, seq);
  }

  /** Our own events that may leave this replica: made and stored. */
  private ownSendable(): number {
    return Math.min(this.deliveredClock[this.id] ?? 0, this.ownStoredSeq);
  }

  /** Our own events up to this seq are held by some other replica (delivered, or in custody). */
  private ownSeqHeldElsewhere(): number {
    let held = 0;
    for (const peer of this.peers.values()) held = Math.max(held, this.ownHeldBy(peer), peer.custody.keptForUsSeq);
    return held;
  }

  /**
   * Our own events up to this seq are held by `peer`: delivered, and kept by its storage. A peer with
   * a DATA_DIR answers before its log is synced; until it says its storage holds a write, a crash of
   * the whole cluster could lose it there, so it does not count.
   */
  private ownHeldBy(peer: Peer): number {
    return (peer.knownStored ?? peer.known)[this.id] ?? 0;
  }

  get pendingSize(): number {
    return this.pending.size;
  }

  get logLength(): number {
    return this.log.length;
  }

  get liveKeys(): number {
    return this.kv.liveKeys;
  }

  /** Writes held here undelivered, in custody or waiting for their past: per origin, the highest seq. */
  private undelivered(): VectorClock {
    let custody: VectorClock = emptyClock;
    for (const peer of this.peers.values()) {
      if (peer.custody.heldCount === 0) continue;
      custody = this.custodyHeld();
      break;
    }
    return this.pending.size === 0 ? custody : mergeClocks(custody, this.pending.highestSeqs());
  }

  /** Writes held here undelivered, per origin the lowest seq above what is delivered. */
  private undeliveredFrom(): VectorClock {
    const out: Record<ReplicaId, number> = this.pending.size === 0 ? {} : { ...this.pending.lowestSeqs() };
    for (const peer of this.peers.values()) {
      const origin = peer.custody.heldLast()?.origin;
      if (origin === undefined) continue;
      const from = peer.custody.heldFrom(this.deliveredClock[origin] ?? 0);
      if (from !== undefined) out[origin] = Math.min(out[origin] ?? from, from);
    }
    return out;
  }

  /** What this replica keeps in custody for others: per origin, the highest seq held. */
  custodyHeld(): VectorClock {
    const held: Record<ReplicaId, number> = {};
    for (const peer of this.peers.values()) {
      const last = peer.custody.heldLast();
      if (last !== undefined) held[last.origin] = last.seq;
    }
    return held;
  }

  /** How many addresses have a retired life here (metrics, simulation). */
  get retiredLives(): number {
    return this.retired.size;
  }

  get writesAwaitingAck(): number {
    return this.writeAcks.size;
  }

  // ---------------------------------------------------------------- starting

  /**
   * Before start: the state a DATA_DIR held. The snapshot is installed and the events after it are
   * delivered again in their order (what cannot be delivered waits, as it would from a peer); all
   * of it counts as stored.
   */
  restore(snapshot: { readonly clock: VectorClock; readonly entries: readonly KvEvent[]; readonly retired: unknown; readonly maxPlace?: number } | undefined, events: readonly KvEvent[]): void {
    assert(this.joining === undefined, 'restored after start');
    if (snapshot !== undefined) this.installSnapshot(snapshot.entries, snapshot.clock, (snapshot.retired ?? undefined) as RetiredRecord | undefined, snapshot.maxPlace);
    this.receiveEvents(events);
    this.ownStoredSeq = this.deliveredClock[this.id] ?? 0;
    this.storedClock = this.deliveredClock;
  }

  /** The whole state as storage keeps it. */
  storedSnapshot(): { clock: VectorClock; entries: KvEvent[]; retired: RetiredRecord; maxPlace: number } {
    return { clock: this.deliveredClock, entries: [...viewEntries(this.kv)], retired: this.retired.toRecord(), maxPlace: this.maxPlace };
  }

  /** Starts joining: pull a snapshot from the first peer of the view that serves one, then announce. */
  start(now: number): void {
    assert(this.joining === undefined, 'replica started twice');
    const candidates = this.view().filter((address) => address !== this.self);
    this.joining = new Joining(candidates, now + this.settings.joinTimeoutMs);
    if (candidates.length > 0) this.beforeCatchUp = new WritesBeforeCatchUp();
    if (this.joining.joined) this.finishJoin(undefined, now);
  }

  /** Installs a pulled snapshot, learns the sender's view, and announces this life to every known replica. */
  private finishJoin(snapshot: { entries: readonly KvEvent[]; last: SnapshotChunk } | undefined, now: number): void {
    if (snapshot !== undefined) {
      this.installSnapshot(snapshot.entries, snapshot.last.clock, snapshot.last.retired, snapshot.last.maxPlace, snapshot.last.from);
      this.learnView(snapshot.last.view, now, snapshot.last);
    }
    this.announce(now);
  }

  // ---------------------------------------------------------------- client operations

  /** Serve a read. The caller has checked covers(metadata). */
  read(key: string, metadata: VectorClock): ReadResult {
    assert(this.covers(metadata), 'read served before its dependencies were delivered');
    const winner = lookup(this.kv, key);
    if (winner === undefined) return { found: undefined, metadata: this.withoutRetired(metadata) };
    const seen = mergeClocks(metadata, winner.clock);
    return {
      found: winner.type === 'put' ? winner : undefined,
      metadata: this.withoutRetired(winner.foreign === undefined ? seen : mergeClocks(seen, winner.foreign)),
    };
  }

  /** Put (value defined) or delete (value undefined). The caller has checked covers(metadata). */
  write(key: string, value: JsonValue | undefined, metadata: VectorClock): WriteResult {
    assert(this.covers(metadata), 'write accepted before its dependencies were delivered');
    const previous = lookup(this.kv, key);
    const seq = (this.deliveredClock[this.id] ?? 0) + 1;
    const clock = Object.freeze({ ...this.deliveredClock, [this.id]: seq }) as VectorClock;
    // Its place in the conflict order: past every event delivered here (see conflict-order.ts).
    const sum = clockSum(clock);
    const foreign = this.foreignOf(metadata);
    const order = { ...(sum > this.maxPlace ? {} : { lamport: this.maxPlace + 1 }), ...(foreign === undefined ? {} : { foreign }) };
    const event: KvEvent =
      value === undefined
        ? Object.freeze({ type: 'delete', origin: this.id, seq, key, clock, ...order })
        : Object.freeze({ type: 'put', origin: this.id, seq, key, value: checkValue(value, valueDepthMax), clock, ...order });
    if (this.beforeCatchUp !== undefined && event.type === 'put') this.beforeCatchUp.notePut(key);
    const ready: KvEvent[] = [];
    this.deliverOne(event, ready);
    this.applyDelivered(ready);
    return { event, previous, metadata: foreign === undefined ? clock : mergeClocks(clock, foreign) };
  }

  /**
   * Parks our write `seq` until another replica holds it or its peer wait is over (the answer then
   * goes out anyway: the write is delivered here), but never answered before our storage holds it
   * (see WriteAcks). 'answer' or 'unstored': to be answered at once, successfully or not.
   */
  awaitAck(seq: number, now: number): ParkOutcome {
    return this.writeAcks.park(seq, seq, this.ownWritesSettledUpTo(), this.ownStoredSeq, now);
  }

  /** Our parked writes that may be answered now, by seq, in order: acknowledged, or not stored in time. */
  takeAcknowledged(now: number): TakenWrites<number> {
    return this.writeAcks.size === 0 ? noWritesTaken : this.writeAcks.take(this.ownWritesSettledUpTo(), this.ownStoredSeq, now);
  }

  /**
   * This life has caught up with what its peers had when it first heard from them: the keys it put
   * until now are written again, each with its winner here (see writes-before-catch-up.ts).
   */
  private rewriteAfterCatchUp(): void {
    const watch = this.beforeCatchUp!;
    const caught = watch.takeCaughtUp((clock) => this.covers(clock));
    if (watch.doneWith(this.peersInOrOutOfView())) this.beforeCatchUp = undefined;
    if (caught === undefined) return;
    for (const key of caught.keys) {
      if (this.ownsKey !== undefined && !this.ownsKey(key)) continue; // its shard is another's now, and took its events
      const winner = lookup(this.kv, key);
      // A put that knew the history wins everywhere already; so does another life's put that won over ours.
      if (winner?.type === 'put' && (winner.origin !== this.id || clockCovers(winner.clock, caught.target))) continue;
      this.write(key, winner?.type === 'put' ? winner.value : undefined, winner?.foreign ?? emptyClock);
      this.rewrittenAfterCatchUp++;
    }
  }

  // ---------------------------------------------------------------- messages from peers

  /** Answers a peer's message. Bad input throws a ValidationError (the shell answers 4xx). */
  handle<K extends RpcName>(message: Extract<PeerMessage, { rpc: K }>, now: number): ReplyOf<K>;
  handle(message: PeerMessage, now: number): ReplyOf<RpcName> {
    switch (message.rpc) {
      case 'push':
        return this.receivePush(message.request, now);
      case 'snapshot-push':
        return this.receiveSnapshotChunk(message.request, now);
      case 'snapshot-pull':
        return this.serveSnapshotChunk(message.request, now);
      case 'probe':
        return this.healthReply();
      case 'view-add':
        return { result: this.addToView(message.request.address, message.request.origin, now) };
      case 'view-delete':
        return { result: this.removeFromView(message.request.address, message.request.origin) } satisfies ViewChangeReply;
      default:
        return unreachable(message);
    }
  }

  /**
   * Events pushed by a peer. Refused, unapplied, while this side holds the link down; but a
   * custody push (the sender's own new writes, which no replica holds yet) is kept aside, still
   * unapplied, and applied once the hold-down ends: if the sender crashes meanwhile, its
   * acknowledged writes are not lost.
   */
  private receivePush(request: PushRequest, now: number): PushReply {
    const peer = this.peers.get(request.from);
    // Learnt first: a new life's first push may overtake its announcement, and must not be refused.
    if (peer !== undefined) this.learnIncarnation(peer, request.incarnation, request.clock, now);
    if (peer?.link.isHeldDown(now)) {
      const origin = replicaId(request.from, request.incarnation);
      if (request.custody === true) peer.custody.keep(origin, request.events, this.deliveredClock[origin] ?? 0);
      return this.heldDownReply(peer, now, origin);
    }
    if (peer !== undefined) this.learnRetired(peer, request.retired);
    this.receiveEvents(request.events);
    return this.acceptedReply();
  }

  /**
   * A push's `accepted` answer as of now: the delivered clock and what storage holds of it. The
   * shell may answer a push late, once storage holds what it delivered (ReplicaNode.receive); it
   * then asks for this again, so the answer says so.
   */
  acceptedReply(): PushReply {
    return { type: 'accepted', from: this.self, incarnation: this.incarnation, clock: this.deliveredClock, ...this.stateFields() };
  }

  /** One chunk of a snapshot pushed by a peer; installed when the last chunk arrives. */
  private receiveSnapshotChunk(chunk: SnapshotChunk, now: number): PushReply {
    const peer = this.peers.get(chunk.from);
    if (peer !== undefined) this.learnIncarnation(peer, chunk.incarnation, undefined, now);
    if (peer?.link.isHeldDown(now)) return this.heldDownReply(peer, now, replicaId(chunk.from, chunk.incarnation));
    let staged = this.stagedSnapshots.get(chunk.from);
    if (chunk.index === 0 || staged?.snapshotId !== chunk.snapshotId) {
      staged = { snapshotId: chunk.snapshotId, nextIndex: 0, entries: [] };
      this.stagedSnapshots.set(chunk.from, staged);
    }
    if (chunk.index === staged.nextIndex) {
      staged.entries.push(...chunk.entries);
      staged.nextIndex++;
      if (chunk.last) {
        this.stagedSnapshots.delete(chunk.from);
        this.installSnapshot(staged.entries, chunk.clock, chunk.retired, chunk.maxPlace, chunk.from);
      }
    }
    return this.acceptedReply();
  }

  /** Serves a chunk of a snapshot to a joiner; the first request (no id) cuts a new snapshot. */
  private serveSnapshotChunk(pull: SnapshotPull, now: number): SnapshotChunk {
    let source: SnapshotSource | undefined;
    if (pull.snapshotId === undefined) {
      if (this.ownSendable() < (this.deliveredClock[this.id] ?? 0)) throw new ValidationError('snapshot not ready: own writes are being stored; try again', 503);
      source = this.snapshot();
      this.servedSnapshots.add(source, now);
    } else {
      source = this.servedSnapshots.get(pull.snapshotId, now);
      if (source === undefined) throw new ValidationError(`snapshot ${pull.snapshotId} is gone; start again`, 410);
    }
    return this.chunkOf(source, pull.snapshotId === undefined ? 0 : pull.index);
  }

  private chunkOf(source: SnapshotSource, index: number): SnapshotChunk {
    const { entries, last } = snapshotChunkEntries(source, index, this.limits.snapshotChunkKeysMax);
    return { from: this.self, incarnation: this.incarnation, snapshotId: source.snapshotId, index, last, clock: source.clock, view: source.view, entries, ...source.retired, maxPlace: source.maxPlace };
  }

  private heldDownReply(peer: Peer, now: number, requester: ReplicaId): PushReply {
    // Only what we keep of the requester's own life: a previous life's events say nothing about its writes.
    const held = peer.custody.heldLast();
    const custodySeq = held?.origin === requester ? held.seq : undefined;
    return {
      type: 'held-down',
      from: this.self,
      incarnation: this.incarnation,
      clock: this.deliveredClock,
      remainingMs: peer.link.heldDownRemainingMs(now),
      ...(custodySeq === undefined ? {} : { custodySeq }),
      ...this.stateFields(),
    };
  }

  /**
   * Applies what a peer left in custody once its link's hold-down has ended, or once failure
   * detection has removed it from the view: the crash custody was kept for.
   */
  private releaseCustody(now: number): void {
    for (const peer of this.peers.values()) {
      if (peer.custody.heldCount === 0 || (peer.member === 'member' && peer.link.isHeldDown(now))) continue;
      this.applyCustody(peer);
    }
  }

  healthReply(): HealthReply {
    return { status: 'ok', from: this.self, incarnation: this.incarnation, clock: this.deliveredClock, boot: this.boot, ...this.stateFields() };
  }

  // ---------------------------------------------------------------- causal delivery

  /**
   * Applies what a peer left in custody. Custody may be the only copy of those writes (their origin
   * may be gone): what the pending buffer has no room for stays in custody, to be offered again,
   * instead of being dropped as a push's would be (a push's sender sends it again; custody has no one to).
   */
  private applyCustody(peer: Peer): void {
    const refused = this.receiveEvents(peer.custody.release());
    if (refused.length > 0) peer.custody.restore(refused);
  }

  /** Buffers what is new, then delivers everything whose causal past is delivered. Returns what the pending buffer had no room for. */
  receiveEvents(events: readonly KvEvent[]): KvEvent[] {
    const refused: KvEvent[] = [];
    const ready: KvEvent[] = [];
    for (const event of events) {
      if (event.seq <= (this.deliveredClock[event.origin] ?? 0)) continue;
      // A retired life's events are all delivered (those that ever will be): a late copy is dropped,
      // and so is an event that follows one of its undelivered events (it never can be delivered).
      if (this.retired.size > 0 && (this.retired.isRetired(event.origin) || this.needsBeyondRetired(event))) continue;
      // Deliverable at once: straight in, so a pending buffer full of events still waiting for
      // their past can never keep out the very events that past is made of.
      if (this.deliverable(event)) {
        this.pending.remove(event);
        this.deliverOne(event, ready);
        this.drainPending(ready);
      } else {
        if (!this.pending.add(event)) refused.push(event);
      }
    }
    this.drainPending(ready);
    this.applyDelivered(ready);
    return refused;
  }

  /**
   * The one place an event is delivered. Its causal past is delivered and it is the next event of
   * its origin (`clock[origin] == seq`, one more than delivered), so the delivered clock only grows.
   */
  private deliverOne(event: KvEvent, ready: KvEvent[]): void {
    assert(this.deliverable(event), `delivering ${event.origin}#${event.seq} before its causal past`);
    assert(event.clock[event.origin] === event.seq, `event ${event.origin}#${event.seq} has clock entry ${event.clock[event.origin]} for its origin`);
    this.deliveredClock = Object.freeze({ ...this.deliveredClock, [event.origin]: event.seq }) as VectorClock;
    this.log.append(event);
    ready.push(event);
  }

  private applyDelivered(ready: readonly KvEvent[]): void {
    if (ready.length === 0) return;
    for (const event of ready) this.maxPlace = Math.max(this.maxPlace, placeOf(event));
    this.kv = applyEvents(this.kv, this.ownedOnly(ready));
    this.deliveredCount += ready.length;
    this.onDelivered?.(ready);
  }

  private deliverable(event: KvEvent): boolean {
    for (const id in event.clock) {
      const needed = id === event.origin ? event.seq - 1 : event.clock[id as ReplicaId]!;
      if ((this.deliveredClock[id as ReplicaId] ?? 0) < needed && !(id !== event.origin && this.retired.size > 0 && this.retired.satisfies(id as ReplicaId, needed))) return false;
    }
    return (this.deliveredClock[event.origin] ?? 0) === event.seq - 1;
  }

  /** The causal past of `event` holds an event of a retired life beyond that life's final seq: no replica will ever deliver it. */
  private needsBeyondRetired(event: KvEvent): boolean {
    for (const id in event.clock) {
      if (id === event.origin) continue;
      const final = this.retired.finalSeq(id as ReplicaId);
      if (final !== undefined && event.clock[id as ReplicaId]! > final) return true;
    }
    return false;
  }

  /**
   * The origins of the events held in the log for keys that were in `before` and are in the view
   * no more: a snapshot whose sender collected the tombstone that ended such a key drops it, and
   * the key's events here, all covered by that snapshot, must leave the log with it (the log holds
   * only events the view folds; seed 9118: a replica restarted from its DATA_DIR with a put and
   * its delete in the log installed a snapshot without the key).
   */
  private originsOfKeysGone(before: KvView): Set<ReplicaId> {
    const origins = new Set<ReplicaId>();
    if (before === this.kv) return origins;
    for (const event of this.log.events()) {
      if (lookup(before, event.key) !== undefined && lookup(this.kv, event.key) === undefined) origins.add(event.origin);
    }
    return origins;
  }

  /** Delivers every waiting event whose causal past is now delivered, repeatedly. */
  private drainPending(ready: KvEvent[]): void {
    let progress = true;
    while (progress && this.pending.size > 0) {
      progress = false;
      for (const origin of [...this.pending.origins()]) {
        for (;;) {
          const next = this.pending.next(origin, this.deliveredClock[origin] ?? 0);
          if (next === undefined || !this.deliverable(next)) break;
          this.pending.remove(next);
          this.deliverOne(next, ready);
          progress = true;
        }
      }
    }
  }

  /**
   * Joins a snapshot (another replica's winners at `clock`) into this replica's state. Used once
   * at join, and when a peer is too far behind for a log suffix. The delivered clock only grows.
   */
  installSnapshot(entries: readonly KvEvent[], clock: VectorClock, retired?: RetiredRecord, maxPlace = 0, from?: Address): void {
    // Whether this replica delivered an event is a question about what it knew before this
    // snapshot: the lives the snapshot retired count as delivered for the snapshot's sender (it
    // retired them once it had all their events), not for a replica that never saw them. An entry
    // whose clock names only such lives would otherwise read as "delivered here, and deleted
    // since", and a joiner (or a restart from a stored snapshot) would drop it.
    const deliveredHere = this.deliveredPredicate();
    // A snapshot is a peer's history too, taken before it is installed (writes-before-catch-up.ts).
    if (from !== undefined) this.beforeCatchUp?.notePeerClock(from, clock, (theirs) => !this.covers(theirs));
    if (retired !== undefined) this.adoptRetired(retired, true);
    if (this.covers(clock) && entries.every((entry) => deliveredHere(entry.clock))) return;
    // The sender's bound too: a tombstone it collected is in no entry, and a write here that follows
    // it must still be placed after it (else a replica that still holds the tombstone keeps it as the winner).
    this.maxPlace = Math.max(this.maxPlace, maxPlace);
    for (const entry of entries) this.maxPlace = Math.max(this.maxPlace, placeOf(entry));
    const owned = this.ownedOnly(entries);
    // What the snapshot covers is read with its retirements taken: its sender had every event of the lives it retired.
    const before = this.kv;
    this.kv = mergeSnapshot(this.kv, this.deliveredClock, owned, clock, deliveredHere, (over) => clockCovers(clock, over) || this.coversRetiring(clock, over));
    const folded = this.originsOfKeysGone(before);
    for (const id in clock) {
      const seq = clock[id as ReplicaId]!;
      if (this.retired.isRetired(id as ReplicaId)) continue;
      if (seq > (this.deliveredClock[id as ReplicaId] ?? 0) || folded.has(id as ReplicaId)) this.log.advanceFloor(id as ReplicaId, seq);
    }
    this.deliveredClock = this.withoutRetired(mergeClocks(this.deliveredClock, clock));
    this.pending.dropCovered(this.deliveredClock);
    this.onSnapshotInstalled?.();
    const ready: KvEvent[] = [];
    this.drainPending(ready);
    this.applyDelivered(ready);
  }

  /**
   * From now on this group holds only the keys `owns` accepts (a reshard moved the others away):
   * their values leave the view now, and later events of them change nothing here.
   */
  keepOnlyKeys(owns: (key: string) => boolean): number {
    this.ownsKey = owns;
    const before = this.kv.liveKeys + this.kv.tombstones;
    this.kv = forgetKeys(this.kv, (key) => !owns(key));
    const dropped = before - (this.kv.liveKeys + this.kv.tombstones);
    // Keys this group owns from now on whose events were delivered before: their values join the view.
    this.kv = applyEvents(this.kv, this.unowned.take(owns));
    return dropped;
  }

  /** The events of `events` whose keys this group owns; the others are kept aside (UnownedKeys). */
  private ownedOnly(events: readonly KvEvent[]): readonly KvEvent[] {
    const owns = this.ownsKey;
    if (owns === undefined) return events;
    const owned = events.filter((event) => owns(event.key));
    if (owned.length < events.length) this.unowned.add(events.filter((event) => !owns(event.key)));
    return owned;
  }

  /** Keys delivered here that this group does not own (held aside), and those not held for the bound. */
  get unownedKeys(): { readonly held: number; readonly dropped: number } {
    return { held: this.unowned.size, dropped: this.unowned.dropped };
  }

  /** Event `seq` of `origin` (a life of this group) is delivered here, or counted so: its life is retired past it. */
  hasDelivered(origin: ReplicaId, seq: number): boolean {
    return (this.deliveredClock[origin] ?? 0) >= seq || this.retiredPast(origin, seq);
  }

  /** Event `seq` of `origin` (a life of this group) is past a retirement here: every replica delivered it. */
  retiredPast(origin: ReplicaId, seq: number): boolean {
    return this.retired.satisfies(origin, seq);
  }

  /** The winning event (put or tombstone) of `key`, if any. */
  entryOf(key: string): KvEvent | undefined {
    return lookup(this.kv, key);
  }

  /** Every key's winning event (put or tombstone) for which `select` holds: what a reshard moves. */
  entriesOf(select: (key: string) => boolean): KvEvent[] {
    const out: KvEvent[] = [];
    for (const event of viewEntries(this.kv)) if (select(event.key)) out.push(event);
    return out;
  }

  /** How many live keys `select` accepts (a shard's key count while keys it no longer owns are still here). */
  liveKeysOf(select: (key: string) => boolean): number {
    let count = 0;
    for (const event of viewEntries(this.kv)) if (event.type === 'put' && select(event.key)) count++;
    return count;
  }

  // ---------------------------------------------------------------- replication, sending side

  /** The whole state as a snapshot a peer can install. */
  snapshot(): SnapshotSource {
    return {
      snapshotId: `${this.incarnation}-${++this.snapshotCounter}`,
      clock: this.deliveredClock,
      view: this.view(),
      // With the keys held aside: a receiver that follows a newer map may own them, and one that
      // owns them already must not read their absence as a delete here (mergeSnapshot).
      entries: this.unowned.size === 0 ? [...viewEntries(this.kv)] : [...viewEntries(this.kv), ...this.unowned.values()],
      retired: this.retiredField(),
      maxPlace: this.maxPlace,
    };
  }

  /**
   * What to send `peer` now, if anything: the events it lacks (per its last stated clock), in
   * clock-sum order, or a snapshot when some of them were compacted away. Our own new events go at
   * once, with whatever of their causal past the peer lacks. Other events of other origins are
   * relayed only if the peer still lacks them an anti-entropy interval after we first saw it lack
   * them: normally their origin delivers them meanwhile.
   */
  private nextPush(peer: Peer, now: number): readonly KvEvent[] | 'snapshot' | undefined {
    const pipeline = peer.pipeline;
    const own = this.ownSendable();
    // Own events already sent are in the peer's pipeline (it may be waiting for their causal past
    // from another origin): send them again only if still not delivered an interval later.
    if (this.retired.size > 0 && this.peerLacksRetired(peer)) return 'snapshot';
    const ownKnown = peer.known[this.id] ?? 0;
    const ownInPipeline = pipeline.ownSentSeq > ownKnown && now - pipeline.ownSentAt < this.settings.antiEntropyIntervalMs;
    const ownFrom = ownInPipeline ? pipeline.ownSentSeq : ownKnown;
    const othersLacking: ReplicaId[] = [];
    for (const id in this.deliveredClock) {
      if (id !== this.id && this.deliveredClock[id as ReplicaId]! > this.peerKnows(peer, id as ReplicaId)) othersLacking.push(id as ReplicaId);
    }
    let relay = false;
    if (othersLacking.length === 0) {
      pipeline.othersLacking = undefined;
    } else if (pipeline.othersLacking === undefined || this.coversOthers(peer, pipeline.othersLacking.upTo)) {
      pipeline.othersLacking = { since: now, upTo: this.deliveredClock };
    } else if (now - pipeline.othersLacking.since >= this.settings.antiEntropyIntervalMs) {
      relay = true;
      pipeline.othersLacking = undefined;
    }
    const suffixes: KvEvent[][] = [];
    // Our own new events, with the part of their causal past the peer lacks, so it can deliver
    // them (and acknowledge them) at once instead of waiting for their other origins.
    let needed: VectorClock = emptyClock;
    if (own > ownFrom) {
      const ownSuffix = this.log.suffix(this.id, ownFrom, Math.min(own - ownFrom, this.limits.pushBatchEventsMax));
      if (ownSuffix === undefined) return 'snapshot';
      if (ownSuffix.length > 0) {
        suffixes.push(ownSuffix);
        needed = ownSuffix.at(-1)!.clock;
      }
    }
    for (const origin of othersLacking) {
      const from = this.peerKnows(peer, origin);
      const upTo = relay ? this.deliveredClock[origin]! : Math.min(needed[origin] ?? 0, this.deliveredClock[origin]!);
      if (upTo <= from) continue;
      const suffix = this.log.suffix(origin, from, Math.min(upTo - from, this.limits.pushBatchEventsMax));
      if (suffix === undefined) return 'snapshot';
      if (suffix.length > 0) suffixes.push(suffix);
    }
    if (suffixes.length === 0) return undefined;
    return mergeBySum(suffixes, this.limits.pushBatchEventsMax);
  }

  /** When nextPush() will have something for `peer` (as things stand), or undefined if never. */
  private pushDueAt(peer: Peer, now: number): number | undefined {
    const interval = this.settings.antiEntropyIntervalMs;
    const pipeline = peer.pipeline;
    let due: number | undefined;
    const ownKnown = peer.known[this.id] ?? 0;
    const own = this.ownSendable();
    if (own > ownKnown) {
      due = pipeline.ownSentSeq >= own ? pipeline.ownSentAt + interval : now;
    }
    if (!this.coversOthers(peer, this.deliveredClock)) {
      const relayAt = pipeline.othersLacking === undefined ? now : pipeline.othersLacking.since + interval;
      due = Math.min(due ?? relayAt, relayAt);
    }
    return due;
  }

  /** The peer has every entry of `clock` except our own. */
  private coversOthers(peer: Peer, clock: VectorClock): boolean {
    for (const id in clock) {
      if (id !== this.id && this.peerKnows(peer, id as ReplicaId) < clock[id as ReplicaId]!) return false;
    }
    return true;
  }

  /**
   * The one exception to "nothing is pushed on a held-down link": our own new writes that no
   * other replica holds yet, offered for custody to a peer that answers probes (see custody.ts).
   */
  private custodyPush(peer: Peer, now: number): readonly KvEvent[] | undefined {
    const own = this.ownSendable();
    const from = Math.max(peer.known[this.id] ?? 0, peer.custody.keptForUsSeq);
    if (own <= this.ownSeqHeldElsewhere() || own <= from || !this.canTakeCustody(peer, now)) return undefined;
    const events = this.log.suffix(this.id, from, Math.min(own - from, this.limits.pushBatchEventsMax));
    return events === undefined || events.length === 0 ? undefined : events;
  }

  private identity(): { from: Address; incarnation: string } {
    return { from: this.self, incarnation: this.incarnation };
  }

  private send(to: Address, message: PeerMessage, now: number, timeoutMs?: number): void {
    this.outbox.push(timeoutMs === undefined ? { to, message, sentAt: now } : { to, message, sentAt: now, timeoutMs });
  }

  private sendEvents(peer: Peer, events: readonly KvEvent[], custody: boolean, now: number): void {
    peer.pipeline.sendEvents(events, this.id, now);
    const request: PushRequest = { ...this.identity(), events, clock: this.deliveredClock, ...(custody ? { custody: true } : {}), ...this.retiredField() };
    this.send(peer.address, { rpc: 'push', request }, now);
  }

  // ---------------------------------------------------------------- answers to what we sent

  /** How a message from poll() ended. Every rpc is handled here; the compiler checks none is missed. */
  onReply(send: Send, exchange: PeerExchange, now: number): void {
    switch (exchange.rpc) {
      case 'push':
      case 'snapshot-push':
        return this.onPushResult(send, exchange.outcome, exchange.rpc === 'snapshot-push' ? exchange.request.last : true, now);
      case 'snapshot-pull': {
        if (this.joining === undefined) return;
        const pulled = this.joining.onReply(exchange.outcome);
        if (this.joining.joined && !this.announced) this.finishJoin(pulled, now);
        return;
      }
      case 'probe':
        return this.onProbeResult(send.to, send.sentAt, exchange.outcome, now);
      case 'view-add':
      case 'view-delete':
        // Fire and forget: an announcement or broadcast that is lost is made up for by probes.
        return;
      default:
        return unreachable(exchange);
    }
  }

  private onPushResult(send: Send, outcome: Outcome<PushReply>, lastOfSnapshot: boolean, now: number): void {
    const peer = this.peers.get(send.to);
    if (peer === undefined) return;
    if (!outcome.ok) {
      peer.link.recordFailure(now, send.sentAt, `push failed: ${outcome.reason}`);
      peer.pipeline.failed(now, this.settings.antiEntropyIntervalMs);
      peer.detector.probeBy(now);
      return;
    }
    const reply = outcome.reply;
    if (reply.from !== send.to) {
      peer.link.recordFailure(now, send.sentAt, `push answered by ${reply.from}, not ${send.to}`);
      peer.pipeline.refused();
      peer.pipeline.nextPushAt = now + this.settings.antiEntropyIntervalMs;
      return;
    }
    this.learnIncarnation(peer, reply.incarnation, reply.clock, now);
    this.learnRetired(peer, reply.retired);
    peer.undelivered = reply.undelivered;
    peer.undeliveredFrom = reply.undeliveredFrom;
    peer.knownStored = reply.stored;
    if (reply.type === 'held-down') {
      peer.pipeline.refused();
      peer.link.recordPeerHeldDown(now, reply.remainingMs);
      if (reply.custodySeq !== undefined && reply.incarnation === peer.incarnation) peer.custody.peerKeeps(reply.custodySeq);
      return;
    }
    peer.link.recordSuccess(now);
    peer.detector.onOtherAnswer(now);
    const nextChunk = peer.pipeline.accepted(lastOfSnapshot);
    const state = peer.pipeline.state;
    if (nextChunk !== undefined && state.kind === 'snapshot-in-flight') {
      this.send(peer.address, { rpc: 'snapshot-push', request: this.chunkOf(state.source, nextChunk) }, now);
      return;
    }
    peer.pipeline.scheduleNext(peer.known, now, this.settings.antiEntropyIntervalMs);
    this.recheckPipeline(peer, now);
  }

  /**
   * Our events the peer took but could not deliver yet (their causal past is on its way from
   * another origin) are not sent again; probe soon instead, so that the writes waiting for their
   * acknowledgement learn promptly when the peer has delivered them.
   */
  private recheckPipeline(peer: Peer, now: number): void {
    // A push in flight will bring the peer's clock with its answer: no probe needed for that.
    // Nor while more of our own events wait to go: that push's answer brings the news.
    if (!peer.pipeline.busy && peer.pipeline.ownSentSeq >= this.ownSendable() && peer.pipeline.ownSentSeq > this.ownHeldBy(peer)) {
      peer.detector.probeBy(now + this.settings.pipelineRecheckMs);
    }
  }

  /** Records the peer's life and delivered clock from one of its messages. */
  private learnIncarnation(peer: Peer, incarnation: string, clock: VectorClock | undefined, now: number, boot?: string): void {
    if (clock !== undefined) this.beforeCatchUp?.notePeerClock(peer.address, clock, (theirs) => !this.covers(theirs));
    if (peer.incarnation === incarnation && boot !== undefined && peer.boot !== undefined && boot !== peer.boot) {
      // The same life started again from its DATA_DIR: its memory is gone (what it kept for us in
      // custody, what it had in flight), its stored state is what it says now.
      peer.boot = boot;
      this.peerStartedAfresh(peer, clock, now);
      return;
    }
    if (boot !== undefined) peer.boot = boot;
    if (peer.incarnation !== incarnation) {
      // A new life: its memory may be gone, so what we knew of it no longer holds. And it is a
      // restart, not a flapping link: its link starts afresh, whichever of its messages (a probe
      // answer, a push, its announcement) reaches us first. Its announcement and its first push
      // travel side by side; holding the link down until the announcement arrives would make the
      // new life hold it down too (a held-down answer), for a whole hold-down time.
      if (peer.incarnation !== undefined) peer.link.clear(now);
      peer.incarnation = incarnation;
      if (peer.custody.heldCount > 0) this.applyCustody(peer);
      this.stagedSnapshots.delete(peer.address);
      peer.known = clock ?? emptyClock;
      peer.pipeline.ownSentSeq = 0;
      peer.custody.peerRestarted();
      return;
    }
    if (clock !== undefined) peer.known = mergeClocks(peer.known, clock);
  }

  /**
   * A peer's life (new, or the same one restarted from disk) begins: nothing we knew of its memory
   * holds. What its previous start left with us in custody is applied now: the start it was kept
   * for has ended (it may be the only copy of writes it acknowledged), and holding it on would mix
   * it with what the new start leaves. A snapshot it was pushing us half-way is dropped.
   */
  private peerStartedAfresh(peer: Peer, clock: VectorClock | undefined, now: number): void {
    if (peer.custody.heldCount > 0) this.applyCustody(peer);
    this.stagedSnapshots.delete(peer.address);
    peer.known = clock ?? emptyClock;
    peer.link.clear(now);
    peer.detector.restart(now);
    peer.pipeline.peerRestarted(now);
    peer.custody.peerRestarted();
  }

  // ---------------------------------------------------------------- failure detection

  private onProbeResult(to: Address, sentAt: number, outcome: Outcome<HealthReply>, now: number): void {
    const peer = this.peers.get(to);
    if (peer === undefined) return;
    if (outcome.ok && outcome.reply.from === to) {
      peer.link.recordSuccess(now);
      peer.detector.onAnswer(now);
      this.learnIncarnation(peer, outcome.reply.incarnation, outcome.reply.clock, now, outcome.reply.boot);
      this.learnRetired(peer, outcome.reply.retired);
      peer.undelivered = outcome.reply.undelivered;
      peer.undeliveredFrom = outcome.reply.undeliveredFrom;
      peer.knownStored = outcome.reply.stored;
      // Suspected replicas are probed on; one that answers again is taken back, with no operator.
      if (peer.member === 'suspected') this.membership.move(peer, 'member');
      this.recheckPipeline(peer, now);
      return;
    }
    const reason = outcome.ok ? `probe answered by ${outcome.reply.from}` : outcome.reason;
    peer.link.recordFailure(now, sentAt, `probe failed: ${reason}`);
    const counts = sentAt >= (peer.link.lastSuccessAt ?? Number.NEGATIVE_INFINITY);
    if (peer.detector.onMiss(now, counts) && peer.member === 'member') {
      this.membership.move(peer, 'suspected');
      for (const other of this.peers.values()) {
        if (other.member === 'member') this.send(other.address, { rpc: 'view-delete', request: { address: peer.address, origin: this.identity() } }, now);
      }
    }
  }

  // ---------------------------------------------------------------- membership

  private addPeer(address: Address, now: number): Peer {
    let peer = this.peers.get(address);
    if (peer === undefined) {
      peer = {
        address,
        incarnation: undefined,
        boot: undefined,
        member: 'suspected',
        known: emptyClock,
        knownRetired: undefined,
        undelivered: undefined,
        undeliveredFrom: undefined,
        knownStored: undefined,
        link: new LinkState(this.settings.linkHoldDownMs),
        detector: new FailureDetector(this.settings, now),
        pipeline: new PushPipeline(now),
        custody: new Custody(this.limits.pendingEventsMax),
      };
      this.peers.set(address, peer);
    }
    return peer;
  }

  /**
   * `PUT /view`. `origin` is set when a replica sent it; when that replica announces itself (a new
   * life: a restart or a join), its link starts afresh, with no hold-down, and what we knew of its
   * state is replaced by the clock it announced.
   */
  addToView(address: Address, origin: ViewChangeOrigin | undefined, now: number): 'added' | 'already present' {
    if (address === this.self) return this.membership.setSelf(true) ? 'already present' : 'added';
    const existing = this.peers.get(address);
    if (existing === undefined && this.peers.size + 1 >= this.limits.viewMembersMax) throw new ViewFullError(this.limits.viewMembersMax);
    const peer = this.addPeer(address, now);
    const was = peer.member === 'member';
    this.membership.move(peer, 'member');
    if (origin !== undefined && origin.from === address && (origin.incarnation !== peer.incarnation || (origin.boot !== undefined && origin.boot !== peer.boot))) {
      peer.incarnation = origin.incarnation;
      if (origin.boot !== undefined) peer.boot = origin.boot;
      this.peerStartedAfresh(peer, origin.clock, now);
    }
    return was ? 'already present' : 'added';
  }

  /**
   * `DELETE /view`. From a replica (failure detection elsewhere) the peer stays probed, so it
   * comes back when it answers; from a client, it is forgotten.
   */
  removeFromView(address: Address, origin: ViewChangeOrigin | undefined): 'deleted' | 'absent' {
    if (address === this.self) {
      if (origin !== undefined) return 'deleted'; // a peer cannot talk us out of our own view
      return this.membership.setSelf(false) ? 'deleted' : 'absent';
    }
    const peer = this.peers.get(address);
    if (peer === undefined || peer.member !== 'member') return 'absent';
    this.membership.move(peer, origin === undefined ? 'removed' : 'suspected');
    return 'deleted';
  }

  /** Once the start-up pull is over: announce ourselves to every known replica. */
  private announce(now: number): void {
    this.announced = true;
    for (const peer of this.peers.values()) {
      if (peer.member === 'removed') continue;
      this.send(peer.address, { rpc: 'view-add', request: { address: this.self, origin: { ...this.identity(), clock: this.deliveredClock, boot: this.boot } } }, now);
    }
  }

  /**
   * After the start-up pull: adds the members the snapshot's sender had in its view (a joiner may
   * start with a partial VIEW), and records that the sender holds at least the snapshot's clock,
   * so we do not send it back what it gave us.
   */
  private learnView(members: readonly Address[], now: number, source: { from: Address; incarnation: string; clock: VectorClock }): void {
    for (const address of members) {
      if (address !== this.self && this.peers.size + 1 < this.limits.viewMembersMax) this.membership.move(this.addPeer(address, now), 'member');
    }
    const peer = this.peers.get(source.from);
    if (peer !== undefined) this.learnIncarnation(peer, source.incarnation, source.clock, now);
  }

  // ---------------------------------------------------------------- stability and compaction

  /** Drops stable events from the log and stable tombstones from the view; returns how many events left the log. */
  compact(now: number): number {
    // Retired lives count in the measure at what each member is known to have of them, so a
    // tombstone of a retired life is stable once every member counted had it, like any other: not
    // because the life is retired here. A retirement taken from a peer may be ahead of what we know
    // of the others, and the join taken then may lack a write that loses to the tombstone.
    const finals = this.retired.size === 0 ? [] : RetiredLives.entries(this.retired.toRecord()).filter(({ seq }) => seq > 0);
    const delivered = withRetiredFinals(this.deliveredClock, finals, () => Number.POSITIVE_INFINITY);
    const members = [...this.peers.values()]
      .filter((peer) => peer.member === 'member')
      .map((peer) => ({ ...peer, known: withRetiredFinals(peer.known, finals, (id) => this.peerKnows(peer, id)), undelivered: peer.undelivered }));
    const lagEventsMax = this.log.length > this.settings.logEventsMax ? this.settings.logEventsMax : undefined;
    const tombstonesBelow = this.stability.measure(
      delivered,
      members,
      lagEventsMax,
      this.wholeClusterInView(),
      (base, over) => clockCovers(base, over) || this.coversBesidesRetired(base, over),
      mergeClocks(delivered, this.undelivered()),
    );
    const folded = this.recentlyFolded.keeping(now) ? (event: KvEvent) => this.recentlyFolded.add(event, now) : undefined;
    const dropped = this.log.compact(this.stability.frontier, folded);
    this.compactedEvents += dropped;
    if (tombstonesBelow !== undefined) {
      const before = this.kv.tombstones;
      // An earlier life at an address whose later life is retired is in no clock any more: it was retired before that one.
      this.kv = dropStableTombstones(this.kv, tombstonesBelow, (origin) => this.retired.finalSeq(origin) === Number.POSITIVE_INFINITY, this.kv.tombstones === 0 ? undefined : this.keysInLog());
      this.tombstonesCollected += before - this.kv.tombstones;
    }
    this.retireEndedLives(now);
    this.assertLogMatchesView();
    return dropped;
  }

  /**
   * The keys of the events still in the log. Their tombstones stay: an event in the log after this
   * compaction is not stable, so it is concurrent with its key's tombstone (what came before the
   * delete is stable with it), and loses to it. It reached no clock the cut was taken from (seed
   * 65778 of the sharded runs: a write of a crashed life, which the clocks this replica knew its
   * peers by did not include yet). Without the tombstone this replica would hold a loser with no
   * winner, and a replica that gets the event from it later would take it as the winner.
   */
  private keysInLog(): ReadonlySet<string> {
    const keys = new Set<string>();
    for (const event of this.log.events()) keys.add(event.key);
    return keys;
  }

  private wholeClusterInView(): boolean {
    for (const peer of this.peers.values()) if (peer.member === 'suspected') return false;
    return true;
  }

  /**
   * The view is the fold of the delivered events: every event still in the log is its key's
   * winner or loses to it, and nothing in the view lies beyond the delivered clock.
   */
  private assertLogMatchesView(): void {
    for (const event of this.log.events()) {
      if (this.ownsKey !== undefined && !this.ownsKey(event.key)) continue;
      const winner = lookup(this.kv, event.key);
      assert(winner !== undefined || event.type === 'delete', `log event ${event.origin}#${event.seq} for "${event.key}" is missing from the view`);
      if (winner !== undefined) assert(compareEvents(winner, event) >= 0, `view holds a loser for "${event.key}": ${winner.origin}#${winner.seq} under ${event.origin}#${event.seq}`);
    }
  }

  // ---------------------------------------------------------------- retiring the entries of ended lives

  /**
   * Notes the lives that have ended: our own earlier lives, and earlier lives of the peers whose
   * current incarnation we know (lives at one address follow each other). Not only those in our
   * clock: also those whose events some member holds undelivered, and those that events waiting
   * here wait for. A life may end before any replica delivered an event of it, and what waits for
   * it, or was counted once in the stability join, waits until it is retired (at seq 0).
   */
  private noteEndedLives(now: number, members: readonly Peer[]): void {
    const note = (id: ReplicaId): void => {
      if (this.ended.has(id) || groupOf(id) !== this.group || (this.retired.size > 0 && this.retired.isRetired(id))) return;
      const address = addressOf(id);
      const current = address === this.self ? this.incarnation : this.peers.get(address)?.incarnation;
      if (current !== undefined && compareIncarnations(incarnationOf(id), current) < 0) this.ended.set(id, now);
    };
    for (const id in this.deliveredClock) note(id as ReplicaId);
    if (this.pending.size > 0) for (const id of this.pending.namedLives()) note(id);
    for (const id in this.custodyHeld()) note(id as ReplicaId);
    for (const peer of members) for (const id in peer.undelivered ?? emptyClock) note(id as ReplicaId);
  }

  /**
   * Retires the clock entries of ended lives whose every event is stable. A life's entry goes once
   * (1) it ended at least retireAfterMs ago, so nothing of it is still in flight, retried or kept
   * in custody anywhere; (2) every replica we track is in the view, so none outside it can hold
   * more of its events; (3) every member has delivered exactly as much of it as we have (its final
   * seq), or has retired it at that seq; (4) no member, this one included, holds its next event
   * undelivered (waiting for its causal past, or in custody); and (5) all this held at two measures
   * in a row. Every replica decides alone, and all decide on the same final seq, since they all see
   * the same unanimous value. The conflict order does not depend on it (conflict-order.ts).
   *
   * (4) is what makes retirement safe and sure to come. Safe: an event beyond the final seq that
   * some replica holds may still become deliverable there, and a replica that delivered it after
   * the others retired the life would disagree with them for good. Sure: when no replica holds the
   * next event of an ended life, it is lost (the life is gone, and nothing of it is in flight), so
   * its later events, and every event of any life that follows one of them, can never be
   * delivered anywhere; retirement drops them (retire), which may leave another ended life with
   * no next event held anywhere. Among the events held undelivered across the view, one that is
   * first in causal order waits only for events no replica holds, so such drops always go on
   * until nothing waits for a lost event: no waiting event blocks retirement or the collection of
   * tombstones (Stability counts what waits) for good.
   */
  private retireEndedLives(now: number): void {
    const members = [...this.peers.values()].filter((peer) => peer.member === 'member');
    this.noteEndedLives(now, members);
    if (this.ended.size === 0) return;
    const settled = this.wholeClusterInView() && members.every((peer) => peer.incarnation !== undefined && peer.detector.misses === 0);
    const candidates = new Map<ReplicaId, number>();
    // What this replica holds undelivered, read as peers read what it states: the next event of a life is held when the lowest held is it.
    const heldFrom = this.undeliveredFrom();
    for (const [id, since] of this.ended) {
      const final = this.deliveredClock[id] ?? 0;
      if (!settled || now - since < this.settings.retireAfterMs || heldFrom[id] === final + 1 || this.earlierLifeUnretired(id)) continue;
      if (!members.every((peer) => this.peerKnows(peer, id) === final && !peerHoldsUndelivered(peer, id, final + 1))) continue;
      if (this.retireCandidates.get(id) === final) this.retire(id, final);
      else candidates.set(id, final);
    }
    this.retireCandidates = candidates;
  }

  /**
   * An earlier life at the address of `id` is not retired yet. Lives at one address are retired in
   * the order they lived: retiring a later one retires every earlier one with it (RetiredLives keeps
   * one life per address), and a life that ended before any replica delivered an event of it may
   * otherwise qualify first (it has nothing to wait for).
   */
  private earlierLifeUnretired(id: ReplicaId): boolean {
    const address = addressOf(id);
    const incarnation = incarnationOf(id);
    const earlier = (other: ReplicaId): boolean => addressOf(other) === address && compareIncarnations(incarnationOf(other), incarnation) < 0;
    for (const other of this.ended.keys()) if (earlier(other)) return true;
    for (const other in this.deliveredClock) if (earlier(other as ReplicaId) && !this.retired.isRetired(other as ReplicaId)) return true;
    return false;
  }

  private retire(id: ReplicaId, final: number): void {
    assert(id !== this.id, 'retiring our own live entry');
    assert((this.deliveredClock[id] ?? 0) <= final, `retiring ${id} at ${final} below what was delivered`);
    this.retired.add(id, final);
    const { [id]: _, ...rest } = this.deliveredClock;
    this.deliveredClock = Object.freeze(rest) as VectorClock;
    this.log.dropOrigin(id);
    this.pending.dropOrigin(id);
    // What waits for its events beyond the final seq waits for good (see retireEndedLives).
    this.pending.dropWhere((event) => this.needsBeyondRetired(event));
    this.ended.delete(id);
    this.retireCandidates.delete(id);
  }

  /**
   * Retires what a peer (or a snapshot) says it retired, where we have delivered exactly as much
   * of that life; otherwise the peer sends us a snapshot first (nextPush). A snapshot carries the
   * effect of everything it retired, so from one every retirement is taken. What we hold of the
   * life beyond that seq is dropped with it: the peer found no replica holding its next event, and
   * delivering more of it here than it did there would set us apart for good.
   */
  private adoptRetired(record: RetiredRecord, fromSnapshot: boolean): void {
    for (const { id, seq } of RetiredLives.entries(record)) {
      if (this.retired.isRetired(id)) continue;
      assert(id !== this.id, `peers retired this live replica's entry ${id}`);
      const delivered = this.deliveredClock[id] ?? 0;
      if (fromSnapshot ? delivered <= seq : delivered === seq) this.retire(id, seq);
    }
  }

  /** How much of life `id` the peer has: delivered as it last said, or retired at its final seq. */
  private peerKnows(peer: Peer, id: ReplicaId): number {
    const known = peer.known[id] ?? 0;
    if (peer.knownRetired === undefined) return known;
    const slash = id.lastIndexOf('/');
    const retired = peer.knownRetired[id.slice(0, slash)];
    if (retired === undefined) return known;
    const order = compareIncarnations(id.slice(slash + 1), retired.incarnation);
    return order === 0 ? Math.max(known, retired.seq) : order < 0 ? Number.POSITIVE_INFINITY : known;
  }

  /** A life we retired of which the peer has less than its final seq: only a snapshot can bring it that. */
  private peerLacksRetired(peer: Peer): boolean {
    for (const { id, seq } of RetiredLives.entries(this.retired.toRecord())) if (seq > 0 && this.peerKnows(peer, id) < seq) return true;
    return false;
  }

  private learnRetired(peer: Peer, record: RetiredRecord | undefined): void {
    if (record === undefined) return;
    peer.knownRetired = record;
    this.adoptRetired(record, false);
  }

  // ---------------------------------------------------------------- driving

  /** Everything to send now. The shell calls this after every input and when nextWakeAt comes. */
  poll(now: number): Send[] {
    if (now >= this.nextCompactionAt) {
      this.nextCompactionAt = now + this.settings.compactionIntervalMs;
      this.compact(now);
    }
    this.releaseCustody(now);
    if (this.beforeCatchUp !== undefined) this.rewriteAfterCatchUp();
    if (this.joining !== undefined && !this.announced) {
      const pull = this.joining.takePull(now);
      if (pull !== undefined) this.send(pull.to, { rpc: 'snapshot-pull', request: pull.request }, now, pull.timeoutMs);
      else if (this.joining.joined) this.finishJoin(undefined, now);
    }
    for (const peer of this.peers.values()) {
      if (peer.member !== 'removed' && peer.detector.takeProbe(now)) this.send(peer.address, { rpc: 'probe', request: {} }, now);
      if (peer.member !== 'member' || peer.pipeline.busy) continue;
      if (peer.link.isHeldDown(now)) {
        const events = this.custodyPush(peer, now);
        if (events !== undefined) this.sendEvents(peer, events, true, now);
        continue;
      }
      if (now < peer.pipeline.nextPushAt) continue;
      const push = this.nextPush(peer, now);
      peer.pipeline.snapshotWaitsForStore = push === 'snapshot' && this.ownSendable() < (this.deliveredClock[this.id] ?? 0);
      if (peer.pipeline.snapshotWaitsForStore) {
        // Not with own writes still being stored in it: the poll after they are sends it.
      } else if (push === 'snapshot') {
        const source = this.snapshot();
        peer.pipeline.sendSnapshot(source);
        this.send(peer.address, { rpc: 'snapshot-push', request: this.chunkOf(source, 0) }, now);
      } else if (push !== undefined) {
        this.sendEvents(peer, push, false, now);
      }
    }
    return this.outbox.splice(0);
  }

  /** When poll() may next have something to do, if nothing else happens before. */
  nextWakeAt(now: number): number {
    let wake = Math.min(now + this.settings.probeIntervalMs, this.nextCompactionAt);
    const ackDue = this.writeAcks.nextDeadline(this.ownStoredSeq);
    if (ackDue !== undefined) wake = Math.min(wake, ackDue);
    for (const peer of this.peers.values()) {
      const probeDue = peer.member === 'removed' ? undefined : peer.detector.dueAt();
      if (probeDue !== undefined) wake = Math.min(wake, probeDue);
      // Custody waiting for room in the pending buffer is offered again after the next input, not on a timer.
      if (peer.custody.heldCount > 0 && peer.link.isHeldDown(now)) wake = Math.min(wake, now + peer.link.heldDownRemainingMs(now));
      if (peer.member === 'member' && !peer.pipeline.busy && !peer.pipeline.snapshotWaitsForStore) {
        const due = this.pushDueAt(peer, now);
        if (due !== undefined) wake = Math.min(wake, Math.max(peer.pipeline.nextPushAt, due, now + peer.link.heldDownRemainingMs(now)));
      }
    }
    return Math.max(wake, now);
  }

  // ---------------------------------------------------------------- inspection

  /** The events held in the log, each origin's in seq order. */
  *logEvents(filter?: { origin?: ReplicaId; key?: string }): Generator<KvEvent> {
    yield* this.log.events(filter);
  }

  /**
   * The events in the log, after those folded out of it in the last few seconds, each origin's in
   * seq order. Reading marks a reader: folded events are kept for its next read (recently-folded.ts).
   */
  *readLog(now: number, filter?: { origin?: ReplicaId; key?: string }): Generator<KvEvent> {
    this.recentlyFolded.noteReader(now);
    yield* this.recentlyFolded.events(now, filter);
    yield* this.log.events(filter);
  }

  viewSnapshot(): KvView {
    return this.kv;
  }

  describe(now: number): ReplicaDescription {
    return {
      address: this.self,
      id: this.id,
      view: this.view(),
      clock: this.deliveredClock,
      stableFrontier: this.stability.frontier,
      logLength: this.log.length,
      pendingEvents: this.pending.size,
      liveKeys: this.kv.liveKeys,
      tombstones: this.kv.tombstones,
      deliveredEvents: this.deliveredCount,
      retiredLives: this.retired.toRecord(),
      peers: [...this.peers.values()]
        .sort((a, b) => compareAddresses(a.address, b.address))
        .map((peer) => ({
          address: peer.address,
          incarnation: peer.incarnation ?? null,
          inView: peer.member === 'member',
          probed: peer.member !== 'removed',
          missedProbes: peer.detector.misses,
          knownDelivered: peer.known,
          lacksEvents: clockSum(this.deliveredClock) - clockSum(meetClocks(peer.known, this.deliveredClock)),
          link: peer.link.describe(now),
        })),
    };
  }
}

export interface ReplicaDescription {
  readonly address: Address;
  readonly id: ReplicaId;
  readonly view: readonly Address[];
  readonly clock: VectorClock;
  readonly stableFrontier: VectorClock;
  readonly logLength: number;
  readonly pendingEvents: number;
  readonly liveKeys: number;
  readonly tombstones: number;
  readonly deliveredEvents: number;
  /** Per address, the latest replica life whose clock entry was retired, and its final seq. */
  readonly retiredLives: RetiredRecord;
  readonly peers: readonly {
    readonly address: Address;
    readonly incarnation: string | null;
    readonly inView: boolean;
    readonly probed: boolean;
    readonly missedProbes: number;
    readonly knownDelivered: VectorClock;
    readonly lacksEvents: number;
    readonly link: LinkDescription;
  }[];
}

const noWritesTaken: TakenWrites<number> = Object.freeze({ acknowledged: Object.freeze([]), unstored: Object.freeze([]) });
/**
 * How long our write may wait for our own storage to hold it before it is answered 503 (the disk
 * is stalled): a client is never told a write succeeded that a crash here could still lose, and
 * never waits on a hung disk for ever.
 */
export const ownStoreWaitMs = 5000;
const noFields = Object.freeze({});

/** `clock` with the retired lives `finals` at what `knows` says is had of each, up to its final seq. */
function withRetiredFinals(clock: VectorClock, finals: readonly { id: ReplicaId; seq: number }[], knows: (id: ReplicaId) => number): VectorClock {
  if (finals.length === 0) return clock;
  const out: Record<string, number> = { ...clock };
  for (const { id, seq } of finals) {
    const had = Math.min(seq, knows(id));
    if (had > 0) out[id] = had;
    else delete out[id];
  }
  return Object.freeze(out) as VectorClock;
}

/** The peer holds event `seq` of life `id` undelivered, as it last stated (an older replica states only its highest such seq). */
function peerHoldsUndelivered(peer: Peer, id: ReplicaId, seq: number): boolean {
  if (peer.undeliveredFrom === undefined) return (peer.undelivered?.[id] ?? 0) >= seq;
  return peer.undeliveredFrom[id] === seq;
}

/** `base` covers `clock` once the entries `retired` satisfies count as covered and other groups' entries are left out (Replica.coversRetiring). */
function coversRetiringWith(retired: RetiredLives, group: string, base: VectorClock, clock: VectorClock): boolean {
  if (retired.size === 0 && group === '') return false;
  for (const id in clock) {
    const seq = clock[id as ReplicaId]!;
    if ((base[id as ReplicaId] ?? 0) < seq && !retired.satisfies(id as ReplicaId, seq) && groupOf(id as ReplicaId) === group) return false;
  }
  return true;
}

function unreachable(value: never): never {
  throw new InvariantViolation(`unhandled ${JSON.stringify(value)}`);
}
