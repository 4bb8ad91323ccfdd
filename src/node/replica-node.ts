import { performance } from 'node:perf_hooks';
import type { Address } from '../../events/ids.ts';
import type { JsonValue } from '../../events/json-value.ts';
import type { KvEvent } from '../../events/kv-event.ts';
import type { PushReply, PushRequest, SnapshotChunk, ViewChangeOrigin } from '../../events/peer-messages.ts';
import { ValidationError } from '../../events/validation-error.ts';
import type { VectorClock } from '../../events/vector-clock.ts';
import type { Action, Outcome } from '../core/actions.ts';
import { Replica, type ReadResult, type ReplicaDescription, type WriteResult } from '../core/replica.ts';
import { snapshotChunkEntries, type SnapshotSource } from '../core/snapshot-source.ts';
import type { PeerClient } from '../transport/peer-client.ts';
import type { Config } from './config.ts';
import type { Logger } from './logger.ts';
import { AckQueue } from './ack-queue.ts';
import { DependenciesNotSatisfied } from './dependencies-not-satisfied.ts';
import { Waiters } from './waiters.ts';

/** Snapshots being pulled by joiners, kept briefly so every chunk comes from one consistent cut. */
const servedSnapshotsMax = 4;
const servedSnapshotTtlMs = 60_000;

/** Counters the metrics endpoint reads. */
export interface NodeCounters {
  unsatisfied503: number;
  pushesSent: number;
  pushFailures: number;
  eventsPushed: number;
}

/**
 * The shell around one Replica: performs the core's actions over HTTP, runs its timers, parks
 * client requests until their dependencies are delivered, and holds a write's answer until a peer
 * holds the write. No protocol decisions are made here.
 */
export class ReplicaNode {
  readonly core: Replica;
  readonly counters: NodeCounters = { unsatisfied503: 0, pushesSent: 0, pushFailures: 0, eventsPushed: 0 };
  private readonly causalWaiters: Waiters;
  private readonly ackQueue: AckQueue;
  private readonly servedSnapshots = new Map<string, { source: SnapshotSource; expiresAt: number }>();
  private wakeTimer: NodeJS.Timeout | undefined;
  private wakeAt = Number.POSITIVE_INFINITY;
  private compactionTimer: NodeJS.Timeout | undefined;
  private joined: Promise<void> = Promise.resolve();
  private joinDone = false;
  private stopped = false;
  private driveScheduled = false;
  private lastView: string;
  private lastViewVersion = 0;
  private readonly peersDown = new Set<Address>();
  /** Called with each batch of events delivered from peers (the debug page's delivery records). */
  onRemoteDelivery: ((events: readonly KvEvent[]) => void) | undefined;
  /** Metrics hooks (src/node/metrics.ts): each own write as made; each push's outcome and round trip. */
  onLocalWrite: ((event: KvEvent) => void) | undefined;
  onPushOutcome: ((to: Address, outcome: Outcome<PushReply>, roundTripMs: number) => void) | undefined;

  constructor(
    private readonly config: Config,
    private readonly client: PeerClient,
    private readonly log: Logger,
    incarnation: string,
    private readonly now: () => number = () => Math.floor(performance.now()),
  ) {
    this.core = new Replica({
      self: config.socketAddress,
      incarnation,
      initialView: config.view,
      limits: config.limits,
      settings: config.settings,
      now: this.now(),
    });
    this.causalWaiters = new Waiters(config.limits.causalWaitersMax);
    this.ackQueue = new AckQueue(config.limits.causalWaitersMax, config.writeAckTimeoutMs, this.now);
    this.lastView = this.core.view().join(',');
  }

  /** Joins the cluster (pull a snapshot once, then announce) and starts the timers. */
  start(): void {
    this.joined = this.join();
    this.compactionTimer = setInterval(() => this.core.compact(), this.config.compactionIntervalMs);
    this.compactionTimer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.wakeTimer);
    clearInterval(this.compactionTimer);
    this.causalWaiters.releaseAll();
    this.ackQueue.releaseAll();
    this.client.close();
  }

  private async join(): Promise<void> {
    const deadline = this.now() + this.config.joinTimeoutMs;
    for (const peer of this.core.view()) {
      if (peer === this.config.socketAddress || this.now() >= deadline) continue;
      if (await this.pullSnapshot(peer, deadline)) break;
    }
    this.core.announce();
    this.joinDone = true;
    this.log.info({ event: 'join', clock: this.core.clock, view: this.core.view(), liveKeys: this.core.liveKeys }, 'joined');
    this.afterInput();
  }

  /** The one pull a replica ever makes: the whole state of one live peer, in chunks. */
  private async pullSnapshot(from: Address, deadline: number): Promise<boolean> {
    const entries: KvEvent[] = [];
    let snapshotId: string | undefined;
    for (let index = 0; ; index++) {
      const left = deadline - this.now();
      if (left <= 0) return false;
      const outcome = await this.client.fetchSnapshotChunk(from, snapshotId, index, left);
      if (!outcome.ok) {
        this.log.debug({ event: 'join-pull-failed', from, reason: outcome.reason }, 'snapshot pull failed');
        return false;
      }
      const chunk = outcome.reply;
      if (snapshotId !== undefined && chunk.snapshotId !== snapshotId) return false;
      snapshotId = chunk.snapshotId;
      entries.push(...chunk.entries);
      if (chunk.last) {
        this.core.installSnapshot(entries, chunk.clock);
        this.core.learnView(chunk.view, this.now(), chunk);
        this.causalWaiters.check();
        return true;
      }
    }
  }

  // ------------------------------------------------------------------ client side

  /** Waits (bounded) until this replica has delivered everything `metadata` depends on. */
  /** True when a request carrying `metadata` can be served at once, with no wait. */
  private dependenciesHere(metadata: VectorClock): boolean {
    return this.joinDone && this.core.covers(metadata);
  }

  private async awaitDependencies(metadata: VectorClock): Promise<void> {
    await this.awaitJoined();
    const ok = await this.causalWaiters.wait(() => this.core.covers(metadata), this.config.causalWaitMs);
    if (!ok) {
      this.counters.unsatisfied503++;
      throw new DependenciesNotSatisfied();
    }
  }

  private async awaitJoined(): Promise<void> {
    if (this.joinDone) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.joined, new Promise<void>((resolve) => (timer = setTimeout(resolve, this.config.causalWaitMs)))]);
    clearTimeout(timer);
  }

  /** Answers at once when the dependencies are already here (the common case): no promise to wait on. */
  read(key: string, metadata: VectorClock): ReadResult | Promise<ReadResult> {
    if (this.dependenciesHere(metadata)) return this.core.read(key, metadata);
    return this.awaitDependencies(metadata).then(() => this.core.read(key, metadata));
  }

  /** Put or delete; answers once a peer holds the event (or no peer can be reached in time). */
  async write(key: string, value: JsonValue | undefined, metadata: VectorClock): Promise<WriteResult | undefined> {
    if (!this.dependenciesHere(metadata)) await this.awaitDependencies(metadata);
    if (value === undefined && this.core.read(key, metadata).found === undefined) return undefined;
    const result = this.core.write(key, value, metadata);
    this.onLocalWrite?.(result.event);
    this.causalWaiters.check();
    this.afterInput();
    await this.ackQueue.wait(result.event.seq, this.core.ownWritesSettledUpTo());
    return result;
  }

  // ------------------------------------------------------------------ peer side

  receivePush(request: PushRequest): PushReply {
    const before = this.core.deliveredCount;
    const reply = this.core.receivePush(request, this.now());
    if (this.core.deliveredCount !== before) {
      this.onRemoteDelivery?.(request.events);
      this.causalWaiters.check();
    }
    this.afterInput();
    return reply;
  }

  receiveSnapshotChunk(chunk: SnapshotChunk): PushReply {
    const reply = this.core.receiveSnapshotChunk(chunk, this.now());
    this.causalWaiters.check();
    this.afterInput();
    return reply;
  }

  /** Serves a chunk of a snapshot to a joiner; the first request (no id) cuts a new snapshot. */
  serveSnapshotChunk(snapshotId: string | undefined, index: number): SnapshotChunk {
    const now = this.now();
    for (const [id, served] of this.servedSnapshots) if (served.expiresAt < now) this.servedSnapshots.delete(id);
    let source: SnapshotSource;
    if (snapshotId === undefined) {
      source = this.core.snapshot();
      if (this.servedSnapshots.size >= servedSnapshotsMax) this.servedSnapshots.delete(this.servedSnapshots.keys().next().value!);
      this.servedSnapshots.set(source.snapshotId, { source, expiresAt: now + servedSnapshotTtlMs });
    } else {
      const served = this.servedSnapshots.get(snapshotId);
      if (served === undefined) throw new ValidationError(`snapshot ${snapshotId} is gone; start again`, 410);
      source = served.source;
    }
    return this.chunkOf(source, index);
  }

  private chunkOf(source: SnapshotSource, index: number): SnapshotChunk {
    const { entries, last } = snapshotChunkEntries(source, index, this.config.limits.snapshotChunkKeysMax);
    return {
      from: this.core.self,
      incarnation: this.core.incarnation,
      snapshotId: source.snapshotId,
      index,
      last,
      clock: source.clock,
      view: source.view,
      entries,
    };
  }

  addToView(address: Address, origin: ViewChangeOrigin | undefined): 'added' | 'already present' {
    const result = this.core.addToView(address, origin, this.now());
    if (origin?.from === address) this.log.info({ event: 'announce', peer: address, incarnation: origin.incarnation }, 'replica announced itself');
    this.afterInput();
    return result;
  }

  removeFromView(address: Address, origin: ViewChangeOrigin | undefined): 'deleted' | 'absent' {
    const result = this.core.removeFromView(address, origin);
    this.afterInput();
    return result;
  }

  describe(): ReplicaDescription {
    return this.core.describe(this.now());
  }

  // ------------------------------------------------------------------ driving the core

  /**
   * After any input: log view changes, wake waiters, and soon send whatever the core wants sent.
   * Sending waits for the end of this turn of the event loop (setImmediate runs once the I/O
   * callbacks of the turn are done): the client writes that arrived together then leave in one
   * push per peer instead of the first alone and the rest a round trip later. A push costs far
   * more than the events in it (a round trip of syscalls and wake-ups on both sides); the wait is
   * well under a millisecond.
   */
  private afterInput(): void {
    if (this.stopped) return;
    this.logViewChanges();
    this.ackQueue.settle(this.core.ownWritesSettledUpTo());
    if (this.driveScheduled) return;
    this.driveScheduled = true;
    setImmediate(() => {
      this.driveScheduled = false;
      this.drive();
    });
  }

  /** Sends whatever the core wants sent now, and arranges to be called when it next may. */
  private drive(): void {
    if (this.stopped) return;
    const now = this.now();
    const delivered = this.core.deliveredCount;
    const actions = this.core.poll(now);
    // poll() may deliver too (custody whose hold-down ended): wake the requests waiting for it.
    if (this.core.deliveredCount !== delivered) this.causalWaiters.check();
    for (const action of actions) this.perform(action);
    this.scheduleWake(this.core.nextWakeAt(now));
  }

  private scheduleWake(at: number): void {
    if (this.stopped || at >= this.wakeAt) return;
    clearTimeout(this.wakeTimer);
    this.wakeAt = at;
    this.wakeTimer = setTimeout(() => {
      this.wakeAt = Number.POSITIVE_INFINITY;
      this.afterInput();
    }, Math.max(0, at - this.now()));
  }

  private logViewChanges(): void {
    if (this.core.viewVersion === this.lastViewVersion) return;
    this.lastViewVersion = this.core.viewVersion;
    const view = this.core.view().join(',');
    if (view === this.lastView) return;
    const before = new Set(this.lastView.split(','));
    const after = new Set(view.split(','));
    this.log.info(
      {
        event: 'view-change',
        added: [...after].filter((a) => !before.has(a)),
        removed: [...before].filter((a) => a !== '' && !after.has(a)),
        view: [...after],
      },
      'view changed',
    );
    this.lastView = view;
  }

  private identity(): { from: Address; incarnation: string } {
    return { from: this.core.self, incarnation: this.core.incarnation };
  }

  private perform(action: Action): void {
    switch (action.type) {
      case 'push': {
        this.counters.pushesSent++;
        this.counters.eventsPushed += action.events.length;
        void this.client.push(action.to, { ...this.identity(), events: action.events, clock: action.clock, ...(action.custody ? { custody: true } : {}) }).then((outcome) => {
          if (!outcome.ok) this.counters.pushFailures++;
          this.onPushOutcome?.(action.to, outcome, this.now() - action.sentAt);
          this.core.onPushResult(action.to, action.sentAt, outcome, this.now());
          this.afterInput();
        });
        return;
      }
      case 'push-snapshot': {
        void this.pushSnapshot(action.to, action.snapshot).then((outcome) => {
          this.core.onPushResult(action.to, action.sentAt, outcome, this.now());
          this.afterInput();
        });
        return;
      }
      case 'probe': {
        void this.client.probe(action.to).then((outcome) => {
          this.core.onProbeResult(action.to, action.sentAt, outcome, this.now());
          this.logPeerHealth(action.to, outcome.ok, outcome.ok ? undefined : outcome.reason);
          this.afterInput();
        });
        return;
      }
      case 'announce': {
        void this.client.changeView('PUT', action.to, this.core.self, { ...this.identity(), clock: action.clock }).then((outcome) => {
          if (!outcome.ok) this.log.debug({ event: 'announce-failed', peer: action.to, reason: outcome.reason }, 'announcement not delivered');
        });
        return;
      }
      case 'broadcast-delete': {
        void this.client.changeView('DELETE', action.to, action.address, this.identity());
        return;
      }
    }
  }

  private async pushSnapshot(to: Address, source: SnapshotSource): Promise<Awaited<ReturnType<PeerClient['pushSnapshotChunk']>>> {
    this.log.info({ event: 'snapshot-push', peer: to, keys: source.entries.length }, 'peer too far behind for a log suffix: sending a snapshot');
    for (let index = 0; ; index++) {
      const chunk = this.chunkOf(source, index);
      const outcome = await this.client.pushSnapshotChunk(to, chunk);
      if (!outcome.ok || outcome.reply.type !== 'accepted' || chunk.last) return outcome;
    }
  }

  private logPeerHealth(peer: Address, ok: boolean, reason: string | undefined): void {
    if (ok && this.peersDown.delete(peer)) this.log.info({ event: 'peer-up', peer }, 'peer answers again');
    if (!ok && !this.peersDown.has(peer)) {
      this.peersDown.add(peer);
      this.log.info({ event: 'peer-down', peer, reason }, 'peer does not answer');
    }
  }
}
