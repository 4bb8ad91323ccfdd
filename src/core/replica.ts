import { replicaId, type Address, type ReplicaId } from '../../events/ids.ts';
import type { JsonValue } from '../../events/json-value.ts';
import type { KvEvent } from '../../events/kv-event.ts';
import type { Limits } from '../../events/limits.ts';
import { checkValue, valueDepthMax } from '../../events/parse-event.ts';
import type { HealthReply, PushReply, PushRequest, SnapshotChunk, ViewChangeOrigin } from '../../events/peer-messages.ts';
import {
  clockCovers,
  clockSum,
  emptyClock,
  mergeClocks,
  meetClocks,
  type VectorClock,
} from '../../events/vector-clock.ts';
import type { Action, Outcome } from './actions.ts';
import { assert } from './assert.ts';
import { applyEvents, dropStableTombstones, emptyView, lookup, mergeSnapshot, viewEntries, type KvView } from './kv-view.ts';
import { LinkState, type LinkDescription } from './link-state.ts';
import { OperationLog } from './operation-log.ts';
import { PendingBuffer } from './pending-buffer.ts';
import type { ProtocolSettings } from './protocol-settings.ts';
import type { SnapshotSource } from './snapshot-source.ts';
import { ViewFullError } from './view-full-error.ts';

export interface ReplicaConfig {
  readonly self: Address;
  /** This life's incarnation: unique per start, so event identities are never reused. */
  readonly incarnation: string;
  readonly initialView: readonly Address[];
  readonly limits: Limits;
  readonly settings: ProtocolSettings;
  readonly now: number;
}

/** What this replica knows and plans about one other replica. */
interface Peer {
  readonly address: Address;
  incarnation: string | undefined;
  inView: boolean;
  /** Probed even while out of the view, so a healed partition or a slow peer is re-admitted. */
  tracked: boolean;
  /** The peer's delivered clock, as its last answer stated. */
  known: VectorClock;
  readonly link: LinkState;
  misses: number;
  probeInFlight: boolean;
  nextProbeAt: number;
  pushInFlight: boolean;
  nextPushAt: number;
  /** The clock of the snapshot last pushed to this peer, until it answers. */
  snapshotPushedUpTo: VectorClock | undefined;
  /** Our own events sent to this peer up to this seq, at this time: not sent again until overdue. */
  ownSentSeq: number;
  ownSentAt: number;
  /**
   * Events of other origins the peer was seen to lack, and when (see nextPush): relayed only if
   * it still lacks them an anti-entropy interval later.
   */
  othersLacking: { readonly since: number; readonly upTo: VectorClock } | undefined;
  /** The highest of our own events this peer keeps in custody for us (see custodyPush). */
  custodySeq: number;
  /** Events this peer pushed to us for custody while we held its link down; applied once the hold-down ends. */
  custody: KvEvent[];
}

export type WriteResult = { readonly event: KvEvent; readonly previous: KvEvent | undefined };

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

/**
 * One replica's protocol state machine: the log, causal delivery, the materialized view, what each
 * peer has delivered, membership and failure detection, link hold-down. Pure: time comes in as
 * `now`, and everything to send goes out as Actions from poll(); the shell moves the bytes.
 */
export class Replica {
  readonly self: Address;
  readonly incarnation: string;
  readonly id: ReplicaId;
  private readonly limits: Limits;
  private readonly settings: ProtocolSettings;

  private deliveredClock: VectorClock = emptyClock;
  private kv: KvView = emptyView;
  private readonly log = new OperationLog();
  private readonly pending: PendingBuffer;
  private readonly peers = new Map<Address, Peer>();
  private selfInView = true;
  /** Grows whenever the view changes, so the shell can notice a change without comparing lists. */
  viewVersion = 0;
  private readonly outbox: Action[] = [];
  private readonly stagedSnapshots = new Map<Address, StagedSnapshot>();
  private snapshotCounter = 0;
  private stableFrontier: VectorClock = emptyClock;
  /** Tombstones stable at this frontier are forgotten once the frontier covers `join` (see compact()). */
  private tombstoneCut: { readonly frontier: VectorClock; readonly join: VectorClock; readonly members: string } = {
    frontier: emptyClock,
    join: emptyClock,
    members: '',
  };
  /** Events delivered since start (own and received), for metrics. */
  deliveredCount = 0;

  constructor(config: ReplicaConfig) {
    this.self = config.self;
    this.incarnation = config.incarnation;
    this.id = replicaId(config.self, config.incarnation);
    this.limits = config.limits;
    this.settings = config.settings;
    this.pending = new PendingBuffer(config.limits.pendingEventsMax);
    for (const address of config.initialView) {
      if (address !== this.self) this.addPeer(address, config.now).inView = true;
    }
  }

  // ---------------------------------------------------------------- queries

  get clock(): VectorClock {
    return this.deliveredClock;
  }

  /** True once every event in `metadata` is delivered here, so a request carrying it may be served. */
  covers(metadata: VectorClock): boolean {
    return clockCovers(this.deliveredClock, metadata);
  }

  view(): Address[] {
    const members = [...this.peers.values()].filter((peer) => peer.inView).map((peer) => peer.address);
    if (this.selfInView) members.push(this.self);
    return members.sort(compareAddresses);
  }

  inView(address: Address): boolean {
    return address === this.self ? this.selfInView : this.peers.get(address)?.inView === true;
  }

  /**
   * True while some other replica is in the view, so it may yet take a new write: a write then
   * waits (bounded) until a peer holds it, delivered or in custody. Only a replica that failure
   * detection has left alone acknowledges at once (anti-entropy spreads its writes later).
   */
  hasPeerInView(): boolean {
    for (const peer of this.peers.values()) if (peer.inView) return true;
    return false;
  }

  /** A peer whose link is held down but that answers probes can keep our new writes in custody. */
  private canTakeCustody(peer: Peer, now: number): boolean {
    return peer.tracked && peer.misses === 0 && peer.link.isHeldDown(now) && peer.incarnation !== undefined;
  }

  /** True when some other replica has delivered `event` (so losing this one does not lose it). */
  isReplicated(event: KvEvent): boolean {
    for (const peer of this.peers.values()) {
      if ((peer.known[event.origin] ?? 0) >= event.seq) return true;
      if (event.origin === this.id && peer.custodySeq >= event.seq) return true;
    }
    return false;
  }

  /**
   * Our own writes up to this seq may be acknowledged: another replica holds them (delivered, or
   * in custody), or, with no other replica in the view, all of them. The same answer as
   * isReplicated(write) || !hasPeerInView() for each of our writes, for all of them at once.
   */
  ownWritesSettledUpTo(): number {
    return this.hasPeerInView() ? this.ownSeqHeldElsewhere() : Number.POSITIVE_INFINITY;
  }

  /** Our own events up to this seq are held by some other replica (delivered, or in custody). */
  private ownSeqHeldElsewhere(): number {
    let held = 0;
    for (const peer of this.peers.values()) held = Math.max(held, peer.known[this.id] ?? 0, peer.custodySeq);
    return held;
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

  // ---------------------------------------------------------------- client operations

  /** Serve a read. The caller has checked covers(metadata). */
  read(key: string, metadata: VectorClock): ReadResult {
    assert(this.covers(metadata), 'read served before its dependencies were delivered');
    const winner = lookup(this.kv, key);
    return {
      found: winner?.type === 'put' ? winner : undefined,
      metadata: winner === undefined ? metadata : mergeClocks(metadata, winner.clock),
    };
  }

  /** Put (value defined) or delete (value undefined). The caller has checked covers(metadata). */
  write(key: string, value: JsonValue | undefined, metadata: VectorClock): WriteResult {
    assert(this.covers(metadata), 'write accepted before its dependencies were delivered');
    const previous = lookup(this.kv, key);
    const seq = (this.deliveredClock[this.id] ?? 0) + 1;
    const clock = Object.freeze({ ...this.deliveredClock, [this.id]: seq }) as VectorClock;
    const event: KvEvent =
      value === undefined
        ? Object.freeze({ type: 'delete', origin: this.id, seq, key, clock })
        : Object.freeze({ type: 'put', origin: this.id, seq, key, value: checkValue(value, valueDepthMax), clock });
    this.deliver([event]);
    return { event, previous };
  }

  // ---------------------------------------------------------------- replication, receiving side

  /**
   * Events pushed by a peer. Refused, unapplied, while this side holds the link down; but a
   * custody push (the sender's own new writes, which no replica holds yet) is kept aside, still
   * unapplied, and applied once the hold-down ends: if the sender crashes meanwhile, its
   * acknowledged writes are not lost.
   */
  receivePush(request: PushRequest, now: number): PushReply {
    const peer = this.peers.get(request.from);
    // Learnt first: a new life's first push may overtake its announcement, and must not be refused.
    if (peer !== undefined) this.learnIncarnation(peer, request.incarnation, request.clock, now);
    if (peer?.link.isHeldDown(now)) {
      if (request.custody === true) this.keepInCustody(peer, request);
      return this.heldDownReply(peer, now);
    }
    this.receiveEvents(request.events);
    return { type: 'accepted', from: this.self, incarnation: this.incarnation, clock: this.deliveredClock };
  }

  /** One chunk of a snapshot pushed by a peer; installed when the last chunk arrives. */
  receiveSnapshotChunk(chunk: SnapshotChunk, now: number): PushReply {
    const peer = this.peers.get(chunk.from);
    if (peer !== undefined) this.learnIncarnation(peer, chunk.incarnation, undefined, now);
    if (peer?.link.isHeldDown(now)) return this.heldDownReply(peer, now);
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
        this.installSnapshot(staged.entries, chunk.clock);
      }
    }
    return { type: 'accepted', from: this.self, incarnation: this.incarnation, clock: this.deliveredClock };
  }

  private keepInCustody(peer: Peer, request: PushRequest): void {
    const origin = replicaId(request.from, request.incarnation);
    let last = peer.custody.at(-1)?.seq ?? this.deliveredClock[origin] ?? 0;
    for (const event of request.events) {
      // Only the sender's own events, gap-free, within the pending bound.
      if (event.origin !== origin || event.seq !== last + 1 || peer.custody.length >= this.limits.pendingEventsMax) continue;
      peer.custody.push(event);
      last = event.seq;
    }
  }

  private heldDownReply(peer: Peer, now: number): PushReply {
    const custodySeq = peer.custody.at(-1)?.seq;
    return {
      type: 'held-down',
      from: this.self,
      incarnation: this.incarnation,
      clock: this.deliveredClock,
      remainingMs: peer.link.heldDownRemainingMs(now),
      ...(custodySeq === undefined ? {} : { custodySeq }),
    };
  }

  /**
   * Applies what a peer left in custody once its link's hold-down has ended, or once failure
   * detection has removed it from the view: the crash custody was kept for.
   */
  private releaseCustody(now: number): void {
    for (const peer of this.peers.values()) {
      if (peer.custody.length === 0 || (peer.inView && peer.link.isHeldDown(now))) continue;
      const events = peer.custody;
      peer.custody = [];
      this.receiveEvents(events);
    }
  }

  /** Buffers what is new, then delivers everything whose causal past is delivered. */
  receiveEvents(events: readonly KvEvent[]): void {
    const ready: KvEvent[] = [];
    for (const event of events) {
      if (event.seq <= (this.deliveredClock[event.origin] ?? 0)) continue;
      // Deliverable at once: straight in, so a pending buffer full of events still waiting for
      // their past can never keep out the very events that past is made of.
      if (this.deliverable(event)) {
        this.pending.remove(event);
        this.deliverOne(event, ready);
        this.drainPending(ready);
      } else {
        this.pending.add(event);
      }
    }
    this.drainPending(ready);
    this.applyDelivered(ready);
  }

  private deliverOne(event: KvEvent, ready: KvEvent[]): void {
    this.deliveredClock = Object.freeze({ ...this.deliveredClock, [event.origin]: event.seq }) as VectorClock;
    this.log.append(event);
    ready.push(event);
  }

  private applyDelivered(ready: readonly KvEvent[]): void {
    if (ready.length === 0) return;
    this.kv = applyEvents(this.kv, ready);
    this.deliveredCount += ready.length;
  }

  private deliverable(event: KvEvent): boolean {
    for (const id in event.clock) {
      const needed = id === event.origin ? event.seq - 1 : event.clock[id as ReplicaId]!;
      if ((this.deliveredClock[id as ReplicaId] ?? 0) < needed) return false;
    }
    return (this.deliveredClock[event.origin] ?? 0) === event.seq - 1;
  }

  private deliverPending(): void {
    const ready: KvEvent[] = [];
    this.drainPending(ready);
    this.applyDelivered(ready);
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

  /** Delivers events known to be deliverable in this order (own writes). */
  private deliver(events: readonly KvEvent[]): void {
    for (const event of events) {
      assert(this.deliverable(event), `delivering ${event.origin}#${event.seq} before its causal past`);
      this.deliveredClock = mergeClocks(this.deliveredClock, event.clock);
      this.log.append(event);
    }
    this.kv = applyEvents(this.kv, events);
    this.deliveredCount += events.length;
  }

  /**
   * Joins a snapshot (another replica's winners at `clock`) into this replica's state. Used once
   * at join, and when a peer is too far behind for a log suffix.
   */
  installSnapshot(entries: readonly KvEvent[], clock: VectorClock): void {
    if (clockCovers(this.deliveredClock, clock)) return;
    this.kv = mergeSnapshot(this.kv, this.deliveredClock, entries, clock);
    for (const id in clock) {
      const seq = clock[id as ReplicaId]!;
      if (seq > (this.deliveredClock[id as ReplicaId] ?? 0)) this.log.advanceFloor(id as ReplicaId, seq);
    }
    this.deliveredClock = mergeClocks(this.deliveredClock, clock);
    this.pending.dropCovered(this.deliveredClock);
    this.deliverPending();
  }

  // ---------------------------------------------------------------- replication, sending side

  /** The whole state as a snapshot a peer can install. */
  snapshot(): SnapshotSource {
    return {
      snapshotId: `${this.incarnation}-${++this.snapshotCounter}`,
      clock: this.deliveredClock,
      view: this.view(),
      entries: [...viewEntries(this.kv)],
    };
  }

  /**
   * What to send `peer` now, if anything: the events it lacks (per its last stated clock), in
   * clock-sum order, or a snapshot when some of them were compacted away. Our own new events go at
   * once, with whatever of their causal past the peer lacks. Other events of other origins are
   * relayed only if the peer still lacks them an anti-entropy interval after we first saw it lack
   * them: normally their origin delivers them meanwhile.
   */
  private nextPush(peer: Peer, now: number): Extract<Action, { type: 'push' | 'push-snapshot' }> | undefined {
    const own = this.deliveredClock[this.id] ?? 0;
    // Own events already sent are in the peer's pipeline (it may be waiting for their causal past
    // from another origin): send them again only if still not delivered an interval later.
    const ownKnown = peer.known[this.id] ?? 0;
    const ownInPipeline = peer.ownSentSeq > ownKnown && now - peer.ownSentAt < this.settings.antiEntropyIntervalMs;
    const ownFrom = ownInPipeline ? peer.ownSentSeq : ownKnown;
    const ownLacking = own > ownFrom;
    const othersLacking: ReplicaId[] = [];
    for (const id in this.deliveredClock) {
      if (id !== this.id && this.deliveredClock[id as ReplicaId]! > (peer.known[id as ReplicaId] ?? 0)) othersLacking.push(id as ReplicaId);
    }
    let relay = false;
    if (othersLacking.length === 0) {
      peer.othersLacking = undefined;
    } else if (peer.othersLacking === undefined || this.coversOthers(peer.known, peer.othersLacking.upTo)) {
      peer.othersLacking = { since: now, upTo: this.deliveredClock };
    } else if (now - peer.othersLacking.since >= this.settings.antiEntropyIntervalMs) {
      relay = true;
      peer.othersLacking = undefined;
    }
    const suffixes: KvEvent[][] = [];
    // Our own new events, with the part of their causal past the peer lacks, so it can deliver
    // them (and acknowledge them) at once instead of waiting for their other origins.
    let needed: VectorClock = emptyClock;
    if (ownLacking) {
      const own = this.log.suffix(this.id, ownFrom, this.limits.pushBatchEventsMax);
      if (own === undefined) return { type: 'push-snapshot', to: peer.address, snapshot: this.snapshot(), sentAt: now };
      if (own.length > 0) {
        suffixes.push(own);
        needed = own.at(-1)!.clock;
      }
    }
    for (const origin of othersLacking) {
      const from = peer.known[origin] ?? 0;
      const upTo = relay ? this.deliveredClock[origin]! : Math.min(needed[origin] ?? 0, this.deliveredClock[origin]!);
      if (upTo <= from) continue;
      const suffix = this.log.suffix(origin, from, Math.min(upTo - from, this.limits.pushBatchEventsMax));
      if (suffix === undefined) return { type: 'push-snapshot', to: peer.address, snapshot: this.snapshot(), sentAt: now };
      if (suffix.length > 0) suffixes.push(suffix);
    }
    if (suffixes.length === 0) return undefined;
    const events = mergeBySum(suffixes, this.limits.pushBatchEventsMax);
    return { type: 'push', to: peer.address, events, clock: this.deliveredClock, sentAt: now };
  }

  private noteOwnSent(peer: Peer, events: readonly KvEvent[], now: number): void {
    for (const event of events) {
      if (event.origin === this.id && event.seq > peer.ownSentSeq) {
        peer.ownSentSeq = event.seq;
        peer.ownSentAt = now;
      }
    }
  }

  /** When nextPush() will have something for `peer` (as things stand), or undefined if never. */
  private pushDueAt(peer: Peer, now: number): number | undefined {
    const interval = this.settings.antiEntropyIntervalMs;
    let due: number | undefined;
    const ownKnown = peer.known[this.id] ?? 0;
    if ((this.deliveredClock[this.id] ?? 0) > ownKnown) {
      due = peer.ownSentSeq >= (this.deliveredClock[this.id] ?? 0) ? peer.ownSentAt + interval : now;
    }
    if (!this.coversOthers(peer.known, this.deliveredClock)) {
      const relayAt = peer.othersLacking === undefined ? now : peer.othersLacking.since + interval;
      due = Math.min(due ?? relayAt, relayAt);
    }
    return due;
  }

  /** `known` includes every entry of `clock` except our own. */
  private coversOthers(known: VectorClock, clock: VectorClock): boolean {
    for (const id in clock) {
      if (id !== this.id && (known[id as ReplicaId] ?? 0) < clock[id as ReplicaId]!) return false;
    }
    return true;
  }

  onPushResult(to: Address, sentAt: number, outcome: Outcome<PushReply>, now: number): void {
    const peer = this.peers.get(to);
    if (peer === undefined) return;
    peer.pushInFlight = false;
    if (!outcome.ok) {
      peer.link.recordFailure(now, sentAt, `push failed: ${outcome.reason}`);
      peer.ownSentSeq = 0;
      peer.snapshotPushedUpTo = undefined;
      peer.nextPushAt = now + this.settings.antiEntropyIntervalMs;
      peer.nextProbeAt = Math.min(peer.nextProbeAt, now);
      return;
    }
    const reply = outcome.reply;
    if (reply.from !== to) {
      peer.link.recordFailure(now, sentAt, `push answered by ${reply.from}, not ${to}`);
      peer.nextPushAt = now + this.settings.antiEntropyIntervalMs;
      return;
    }
    this.learnIncarnation(peer, reply.incarnation, reply.clock, now);
    if (reply.type === 'held-down') {
      peer.link.recordPeerHeldDown(now, reply.remainingMs);
      if (reply.custodySeq !== undefined && reply.incarnation === peer.incarnation) peer.custodySeq = Math.max(peer.custodySeq, reply.custodySeq);
      return;
    }
    peer.link.recordSuccess(now);
    // The answer proves the peer alive as well as a probe would: under load, pushes stand in for probes.
    peer.misses = 0;
    if (!peer.probeInFlight) peer.nextProbeAt = Math.max(peer.nextProbeAt, now + this.settings.probeIntervalMs);
    // Go on at once; only a snapshot the peer did not take (it may be refusing) waits a round
    // instead of being cut and sent again at once. Events are not sent twice in a row anyway
    // (see nextPush).
    const snapshotRefused = peer.snapshotPushedUpTo !== undefined && !clockCovers(peer.known, peer.snapshotPushedUpTo);
    peer.snapshotPushedUpTo = undefined;
    peer.nextPushAt = snapshotRefused ? now + this.settings.antiEntropyIntervalMs : now;
    this.recheckPipeline(peer, now);
  }

  /**
   * Our events the peer took but could not deliver yet (their causal past is on its way from
   * another origin) are not sent again; probe soon instead, so that the writes waiting for their
   * acknowledgement learn promptly when the peer has delivered them.
   */
  private recheckPipeline(peer: Peer, now: number): void {
    // A push in flight will bring the peer's clock with its answer: no probe needed for that.
    if (!peer.pushInFlight && peer.ownSentSeq > (peer.known[this.id] ?? 0)) peer.nextProbeAt = Math.min(peer.nextProbeAt, now + pipelineRecheckMs);
  }

  /** Records the peer's life and delivered clock from one of its messages. */
  private learnIncarnation(peer: Peer, incarnation: string, clock: VectorClock | undefined, now: number): void {
    if (peer.incarnation !== incarnation) {
      // A new life: its memory may be gone, so what we knew of it no longer holds. And it is a
      // restart, not a flapping link: its link starts afresh, whichever of its messages (a probe
      // answer, a push, its announcement) reaches us first. Its announcement and its first push
      // travel side by side; holding the link down until the announcement arrives would make the
      // new life hold it down too (a held-down answer), for a whole hold-down time.
      if (peer.incarnation !== undefined) peer.link.clear(now);
      peer.incarnation = incarnation;
      peer.known = clock ?? emptyClock;
      peer.ownSentSeq = 0;
      // The new life lost what it kept for us. What it left with us stays: it may be the only copy
      // of its previous life's acknowledged writes, and is applied now that the link is clear.
      peer.custodySeq = 0;
      return;
    }
    if (clock !== undefined) peer.known = mergeClocks(peer.known, clock);
  }

  // ---------------------------------------------------------------- failure detection

  onProbeResult(to: Address, sentAt: number, outcome: Outcome<HealthReply>, now: number): void {
    const peer = this.peers.get(to);
    if (peer === undefined) return;
    peer.probeInFlight = false;
    if (outcome.ok && outcome.reply.from === to) {
      peer.link.recordSuccess(now);
      peer.misses = 0;
      this.learnIncarnation(peer, outcome.reply.incarnation, outcome.reply.clock, now);
      // Removed replicas are probed on; one that answers again is taken back, with no operator.
      if (peer.tracked && !peer.inView) this.setInView(peer, true);
      peer.nextProbeAt = now + this.settings.probeIntervalMs;
      this.recheckPipeline(peer, now);
      return;
    }
    const reason = outcome.ok ? `probe answered by ${outcome.reply.from}` : outcome.reason;
    peer.link.recordFailure(now, sentAt, `probe failed: ${reason}`);
    peer.nextProbeAt = now + this.settings.suspectProbeIntervalMs;
    if (sentAt < (peer.link.lastSuccessAt ?? Number.NEGATIVE_INFINITY)) return;
    peer.misses++;
    if (peer.inView && peer.misses >= this.settings.probeMissesMax) {
      this.setInView(peer, false);
      for (const other of this.peers.values()) {
        if (other.inView) this.outbox.push({ type: 'broadcast-delete', to: other.address, address: peer.address });
      }
    }
  }

  healthReply(): HealthReply {
    return { status: 'ok', from: this.self, incarnation: this.incarnation, clock: this.deliveredClock };
  }

  // ---------------------------------------------------------------- membership

  private setInView(peer: Peer, inView: boolean): void {
    if (peer.inView === inView) return;
    peer.inView = inView;
    this.viewVersion++;
  }

  private addPeer(address: Address, now: number): Peer {
    let peer = this.peers.get(address);
    if (peer === undefined) {
      peer = {
        address,
        incarnation: undefined,
        inView: false,
        tracked: true,
        known: emptyClock,
        link: new LinkState(this.settings.linkHoldDownMs),
        misses: 0,
        probeInFlight: false,
        nextProbeAt: now,
        pushInFlight: false,
        nextPushAt: now,
        snapshotPushedUpTo: undefined,
        ownSentSeq: 0,
        ownSentAt: 0,
        othersLacking: undefined,
        custodySeq: 0,
        custody: [],
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
    if (address === this.self) {
      const was = this.selfInView;
      this.selfInView = true;
      this.viewVersion++;
      return was ? 'already present' : 'added';
    }
    const existing = this.peers.get(address);
    if (existing === undefined && this.peers.size + 1 >= this.limits.viewMembersMax) {
      throw new ViewFullError(this.limits.viewMembersMax);
    }
    const peer = this.addPeer(address, now);
    const was = peer.inView;
    this.setInView(peer, true);
    peer.tracked = true;
    if (origin !== undefined && origin.from === address && origin.incarnation !== peer.incarnation) {
      peer.incarnation = origin.incarnation;
      peer.known = origin.clock ?? emptyClock;
      peer.link.clear(now);
      peer.misses = 0;
      peer.nextPushAt = now;
      peer.nextProbeAt = now + this.settings.probeIntervalMs;
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
      const was = this.selfInView;
      this.selfInView = false;
      this.viewVersion++;
      return was ? 'deleted' : 'absent';
    }
    const peer = this.peers.get(address);
    if (peer === undefined || !peer.inView) return 'absent';
    this.setInView(peer, false);
    if (origin === undefined) peer.tracked = false;
    return 'deleted';
  }

  /** Called by the shell once the start-up pull is over: announce ourselves to every known replica. */
  announce(): void {
    for (const peer of this.peers.values()) {
      if (peer.tracked) this.outbox.push({ type: 'announce', to: peer.address, clock: this.deliveredClock });
    }
  }

  /**
   * After the start-up pull: adds the members the snapshot's sender had in its view (a joiner may
   * start with a partial VIEW), and records that the sender holds at least the snapshot's clock,
   * so we do not send it back what it gave us.
   */
  learnView(members: readonly Address[], now: number, source?: { from: Address; incarnation: string; clock: VectorClock }): void {
    for (const address of members) {
      if (address !== this.self && this.peers.size + 1 < this.limits.viewMembersMax) this.setInView(this.addPeer(address, now), true);
    }
    const peer = source === undefined ? undefined : this.peers.get(source.from);
    if (peer !== undefined && source !== undefined) this.learnIncarnation(peer, source.incarnation, source.clock, now);
  }

  // ---------------------------------------------------------------- stability and compaction

  /**
   * The events every replica in the view has delivered. A peer lagging more than logEventsMax
   * behind stops holding the frontier back; it will be sent a snapshot.
   */
  private computeStableFrontier(): { frontier: VectorClock; join: VectorClock; members: string } {
    let frontier = this.deliveredClock;
    let join = this.deliveredClock;
    const members: string[] = [];
    const lagging = this.log.length > this.settings.logEventsMax;
    for (const peer of this.peers.values()) {
      if (!peer.inView) continue;
      if (lagging && clockSum(this.deliveredClock) - clockSum(meetClocks(peer.known, this.deliveredClock)) > this.settings.logEventsMax) {
        // Left out of the frontier; its writes concurrent with a delete are not in the join
        // either, so no tombstone may go until it has caught up.
        members.push(`${peer.address}/lagging`);
        continue;
      }
      frontier = meetClocks(frontier, peer.known);
      join = mergeClocks(join, peer.known);
      members.push(`${peer.address}/${peer.incarnation ?? ''}`);
    }
    return { frontier, join, members: members.sort().join(' ') };
  }

  /**
   * Drops stable events from the log and stable tombstones from the view.
   *
   * A stable tombstone is not forgotten at once: a write concurrent with the delete that loses to it
   * may still be on its way to this replica, and with the tombstone gone it would win here and
   * nowhere else. Every such write was made before its origin delivered the delete, so it is
   * covered by what the replicas reported once the delete was stable (the join of their clocks at
   * that compaction). Tombstones stable at an earlier compaction go once the frontier covers the
   * join taken then, and the same replicas were asked both times. Replicas outside the view (cut
   * off, or down) may hold such writes too, so tombstones are only collected while every replica
   * we track is in the view.
   */
  compact(): number {
    const { frontier, join, members } = this.computeStableFrontier();
    this.stableFrontier = frontier;
    const dropped = this.log.compact(frontier);
    const cut = this.tombstoneCut;
    if (cut.members !== members) {
      this.tombstoneCut = { frontier, join, members };
    } else if (clockCovers(frontier, cut.join) && this.wholeClusterInView() && !members.includes('/lagging')) {
      this.kv = dropStableTombstones(this.kv, cut.frontier);
      this.tombstoneCut = { frontier, join, members };
    }
    return dropped;
  }

  private wholeClusterInView(): boolean {
    for (const peer of this.peers.values()) if (peer.tracked && !peer.inView) return false;
    return true;
  }

  // ---------------------------------------------------------------- driving

  /** Everything to send now. The shell calls this after every input and when nextWakeAt comes. */
  poll(now: number): Action[] {
    this.releaseCustody(now);
    for (const peer of this.peers.values()) {
      if (peer.tracked && !peer.probeInFlight && now >= peer.nextProbeAt) {
        peer.probeInFlight = true;
        this.outbox.push({ type: 'probe', to: peer.address, sentAt: now });
      }
      if (!peer.inView || peer.pushInFlight) continue;
      const push = peer.link.isHeldDown(now) ? this.custodyPush(peer, now) : now >= peer.nextPushAt ? this.nextPush(peer, now) : undefined;
      if (push !== undefined) {
        peer.pushInFlight = true;
        if (push.type === 'push-snapshot') peer.snapshotPushedUpTo = push.snapshot.clock;
        else this.noteOwnSent(peer, push.events, now);
        this.outbox.push(push);
      }
    }
    return this.outbox.splice(0);
  }

  /**
   * The one exception to "nothing is pushed on a held-down link": our own new writes that no
   * other replica holds yet, offered for custody to a peer that answers probes. The peer keeps
   * them unapplied until its hold-down ends, so the link stays honest (a re-attached replica still
   * answers 503), and a write acknowledged meanwhile survives our crash.
   */
  private custodyPush(peer: Peer, now: number): Extract<Action, { type: 'push' }> | undefined {
    const own = this.deliveredClock[this.id] ?? 0;
    if (own <= this.ownSeqHeldElsewhere() || !this.canTakeCustody(peer, now)) return undefined;
    const events = this.log.suffix(this.id, Math.max(peer.known[this.id] ?? 0, peer.custodySeq), this.limits.pushBatchEventsMax);
    if (events === undefined || events.length === 0) return undefined;
    return { type: 'push', to: peer.address, events, clock: this.deliveredClock, sentAt: now, custody: true };
  }

  /** When poll() may next have something to do, if nothing else happens before. */
  nextWakeAt(now: number): number {
    let wake = now + this.settings.probeIntervalMs;
    for (const peer of this.peers.values()) {
      if (peer.tracked && !peer.probeInFlight) wake = Math.min(wake, peer.nextProbeAt);
      if (peer.custody.length > 0) wake = Math.min(wake, now + peer.link.heldDownRemainingMs(now));
      if (peer.inView && !peer.pushInFlight) {
        const due = this.pushDueAt(peer, now);
        if (due !== undefined) wake = Math.min(wake, Math.max(peer.nextPushAt, due, now + peer.link.heldDownRemainingMs(now)));
      }
    }
    return Math.max(wake, now);
  }

  // ---------------------------------------------------------------- inspection

  *logEvents(filter?: { origin?: ReplicaId; key?: string }): Generator<KvEvent> {
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
      stableFrontier: this.stableFrontier,
      logLength: this.log.length,
      pendingEvents: this.pending.size,
      liveKeys: this.kv.liveKeys,
      tombstones: this.kv.tombstones,
      deliveredEvents: this.deliveredCount,
      peers: [...this.peers.values()]
        .sort((a, b) => compareAddresses(a.address, b.address))
        .map((peer) => ({
          address: peer.address,
          incarnation: peer.incarnation ?? null,
          inView: peer.inView,
          probed: peer.tracked,
          missedProbes: peer.misses,
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

/**
 * Merges per-origin suffixes (each in seq order, hence in clock-sum order) into one batch in
 * clock-sum order, cut at `max`. Clock sums grow along happens-before, so whatever the cut, every
 * event in the batch comes after all its causal past that the peer lacks and we hold.
 */
function mergeBySum(suffixes: KvEvent[][], max: number): KvEvent[] {
  if (suffixes.length === 1) return suffixes[0]!.slice(0, max);
  const heads = suffixes.map(() => 0);
  const out: KvEvent[] = [];
  while (out.length < max) {
    let best = -1;
    let bestSum = Number.POSITIVE_INFINITY;
    for (let i = 0; i < suffixes.length; i++) {
      const event = suffixes[i]![heads[i]!];
      if (event === undefined) continue;
      const sum = clockSum(event.clock);
      if (sum < bestSum) {
        best = i;
        bestSum = sum;
      }
    }
    if (best < 0) break;
    out.push(suffixes[best]![heads[best]!++]!);
  }
  return out;
}


/** How soon to ask a peer again whether it delivered our events that were waiting for their past, in ms. */
const pipelineRecheckMs = 5;

/** Orders addresses as people read them (127.0.0.2 before 127.0.0.10); one collator, made once. */
const compareAddresses = new Intl.Collator('en', { numeric: true }).compare;
