import type { Address, ReplicaId } from '../../events/ids.ts';
import type { JsonValue } from '../../events/json-value.ts';
import type { KvEvent } from '../../events/kv-event.ts';
import type { PushReply, PushRequest } from '../../events/peer-messages.ts';
import { exchangeOf, type Outcome, type PeerMessage, type ReplyOf, type RpcName } from '../../events/peer-rpc.ts';
import type { VectorClock } from '../../events/vector-clock.ts';
import { ownStoreWaitMs, Replica, type ReadResult, type ReplicaDescription, type Send, type WriteResult } from '../core/replica.ts';
import type { Clock } from './clock.ts';
import type { NodeConfig } from './node-config.ts';
import { DependenciesNotSatisfied } from './dependencies-not-satisfied.ts';
import type { Logger } from './logger.ts';
import type { Storage, StoredState } from './storage.ts';
import { StorageUnavailable } from './storage-unavailable.ts';
import type { TimerHandle, Timers } from './timers.ts';
import type { Transport } from './transport.ts';
import { Waiters } from './waiters.ts';

/** How soon storing our own writes is tried again after storage failed, in ms. */
const storeRetryMs = 500;

/**
 * Longest a push's answer waits for storage to hold what the push delivered (see receive()): a slow
 * or stuck disk delays the sender's pipeline to this replica by at most this much per push, and the
 * answer then goes out saying what storage holds.
 */
export const pushAnswerWaitMaxMs = 250;

/** A push accepted and not yet answered: answered once a flush started after its delivery ends, or when due. */
interface LateAnswer {
  /** The node's deliveredCount once the push was handled. */
  readonly delivered: number;
  readonly due: number;
  readonly answer: (reply: PushReply) => void;
}

/** Counters the metrics endpoint reads. */
export interface NodeCounters {
  unsatisfied503: number;
  pushesSent: number;
  pushFailures: number;
  eventsPushed: number;
}

/** How a client request ended: its result, or why it could not be served (a typed error the HTTP layer maps). */
export type Answer<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: Error };

/** What the node is given: the world it runs in. Production wires real ones (main.ts); the simulation, virtual ones. */
export interface NodeEnvironment {
  readonly config: NodeConfig;
  readonly incarnation: string;
  /** Unique per process start (a life restarted from its DATA_DIR keeps its incarnation, not its boot). */
  readonly boot: string;
  /** What the DATA_DIR held at start, if there is one. */
  readonly restored?: StoredState;
  readonly clock: Clock;
  readonly timers: Timers;
  readonly transport: Transport;
  readonly storage: Storage;
  readonly log: Logger;
}

/**
 * The shell around one Replica: performs the core's sends over the transport and reports how each
 * ended, runs its one wake-up timer, parks client requests until their dependencies are delivered,
 * and answers writes when the core says they may be. No protocol decisions are made here. The same
 * node runs in production and in the simulation: all it touches of the world comes in through
 * NodeEnvironment.
 */
export class ReplicaNode {
  readonly core: Replica;
  readonly counters: NodeCounters = { unsatisfied503: 0, pushesSent: 0, pushFailures: 0, eventsPushed: 0 };
  private readonly config: NodeConfig;
  private readonly clock: Clock;
  private readonly timers: Timers;
  private readonly transport: Transport;
  private readonly storage: Storage;
  private readonly log: Logger;
  private readonly causalWaiters: Waiters;
  /** Answers of our writes the core holds until they are stored and another replica holds them, by seq. */
  private readonly unacknowledged = new Map<number, (error?: Error) => void>();
  private wakeTimer: TimerHandle | undefined;
  private wakeAt = Number.POSITIVE_INFINITY;
  private stopped = false;
  private driveScheduled = false;
  private joinLogged = false;
  /** A snapshot was installed (its effect never passed through append): storage gets a snapshot next. */
  private snapshotOwed = false;
  /** A flush of everything delivered is in flight; another is wanted once it ends. */
  private flushing = false;
  private flushAgain = false;
  /** A flush failed; a retry is armed. */
  private storeRetry: TimerHandle | undefined;
  /** Storage holds the events delivered up to this deliveredCount (the last flush that ended well started there). */
  private storedDelivered: number;
  /** Pushes waiting for their answer until storage holds what they delivered, in arrival order (see receive()). */
  private lateAnswers: LateAnswer[] = [];
  private lateAnswersHead = 0;
  private lateAnswerTimer: TimerHandle | undefined;
  private lastView: string;
  private lastViewVersion = 0;
  private readonly peersDown = new Set<Address>();
  /** Called with each batch of events delivered from peers (the debug page's delivery records). */
  onRemoteDelivery: ((events: readonly KvEvent[]) => void) | undefined;
  /** Metrics hooks (src/observability/metrics.ts): each own write as made; each push's outcome and round trip. */
  onLocalWrite: ((event: KvEvent) => void) | undefined;
  onPushOutcome: ((to: Address, outcome: Outcome<PushReply>, roundTripMs: number) => void) | undefined;

  constructor(environment: NodeEnvironment) {
    const { config, clock, timers, transport, storage, log } = environment;
    this.config = config;
    this.clock = clock;
    this.timers = timers;
    this.transport = transport;
    this.storage = storage;
    this.log = log;
    this.core = new Replica({
      self: config.socketAddress,
      incarnation: environment.incarnation,
      boot: environment.boot,
      initialView: config.view,
      limits: config.limits,
      settings: config.settings,
      now: clock.now(),
    });
    if (environment.restored !== undefined) this.core.restore(environment.restored.snapshot, environment.restored.events);
    this.storedDelivered = this.core.deliveredCount;
    this.core.onSnapshotInstalled = () => {
      this.snapshotOwed = true;
    };
    this.core.onDelivered = (events) => {
      storage.append(events);
      this.storeDelivered();
      if (events[0]!.origin !== this.core.id) this.onRemoteDelivery?.(events);
    };
    this.causalWaiters = new Waiters(config.limits.causalWaitersMax, timers);
    this.lastView = this.core.view().join(',');
  }

  /** Joins the cluster (the core pulls a snapshot once, then announces) and starts driving it. */
  start(): void {
    this.core.start(this.clock.now());
    this.afterInput();
  }

  stop(): void {
    this.stopped = true;
    this.wakeTimer?.cancel();
    this.storeRetry?.cancel();
    // Pushes waiting for storage go unanswered, as if the process had died: their senders time out.
    this.lateAnswerTimer?.cancel();
    this.lateAnswers = [];
    this.lateAnswersHead = 0;
    this.causalWaiters.releaseAll();
    // Writes still waiting for another replica to hold them are not acknowledged by a stopping replica.
    const stopping = new DependenciesNotSatisfied();
    for (const answer of this.unacknowledged.values()) answer(stopping);
    this.unacknowledged.clear();
    this.transport.close();
    this.storage.close();
  }

  // ------------------------------------------------------------------ client side

  /** True when a request carrying `metadata` can be served at once, with no wait. */
  private dependenciesHere(metadata: VectorClock): boolean {
    return this.core.joined && this.core.covers(metadata);
  }

  /** Waits (bounded) until this replica has joined, then (bounded) until it has delivered everything `metadata` depends on. */
  private awaitDependencies(metadata: VectorClock, then: (error: Error | undefined) => void): void {
    const covered = (): void =>
      this.causalWaiters.wait(
        () => this.core.covers(metadata),
        this.config.causalWaitMs,
        (ok) => {
          if (ok) return then(undefined);
          this.counters.unsatisfied503++;
          then(new DependenciesNotSatisfied());
        },
      );
    if (this.core.joined) covered();
    else this.causalWaiters.wait(() => this.core.joined, this.config.causalWaitMs, covered);
  }

  read(key: string, metadata: VectorClock, done: (answer: Answer<ReadResult>) => void): void {
    if (this.dependenciesHere(metadata)) return done({ ok: true, value: this.core.read(key, metadata) });
    this.awaitDependencies(metadata, (error) => done(error === undefined ? { ok: true, value: this.core.read(key, metadata) } : { ok: false, error }));
  }

  /**
   * Put (value defined) or delete (value undefined; answered with undefined when the key does not
   * exist, unless `tombstoneAlways`). Answered once another replica holds the event, or when the core gives up waiting.
   */
  write(key: string, value: JsonValue | undefined, metadata: VectorClock, done: (answer: Answer<WriteResult | undefined>) => void, tombstoneAlways = false): void {
    const proceed = (): void => {
      if (this.stopped) return done({ ok: false, error: new DependenciesNotSatisfied() });
      const unavailable = this.storage.unavailable;
      if (unavailable !== undefined) return done({ ok: false, error: new StorageUnavailable(unavailable) });
      // A delete of a key that does not exist makes no event (a 404), unless a reshard moves a tombstone (tombstoneAlways).
      if (value === undefined && !tombstoneAlways && this.core.read(key, metadata).found === undefined) return done({ ok: true, value: undefined });
      const result = this.core.write(key, value, metadata);
      this.onLocalWrite?.(result.event);
      // Delivered here within core.write(): the flush of everything delivered (storeDelivered) stores it too.
      const seq = result.event.seq;
      // Parked before waking the waiters: a write waiting on this one may run within check().
      const parked = this.core.awaitAck(seq, this.clock.now());
      if (parked === 'parked') this.unacknowledged.set(seq, (error) => done(error === undefined ? { ok: true, value: result } : { ok: false, error }));
      this.causalWaiters.check();
      if (parked === 'answer') done({ ok: true, value: result });
      // Delivered here, but too many writes wait for storage to take them: the outcome is unknown, as after a timeout.
      if (parked === 'unstored') done({ ok: false, error: new StorageUnavailable(`${this.core.writesAwaitingAck} writes are waiting for the disk; try again`) });
      this.afterInput();
    };
    if (this.dependenciesHere(metadata)) return proceed();
    this.awaitDependencies(metadata, (error) => (error === undefined ? proceed() : done({ ok: false, error })));
  }

  /**
   * Asks storage to keep everything delivered so far, one flush at a time (group commit does the
   * rest); once it has, peers are told what it holds (a write counts as held by this replica only
   * then), and our own writes among it may leave and be acknowledged (one flush for all of them, not
   * one per write). When it cannot, our writes it held are answered 503 (their outcome is unknown to
   * the client, as after a timeout) and storing is retried until it succeeds: only then do they leave.
   */
  private storeDelivered(): void {
    if (this.stopped) return;
    // A snapshot installed from a peer is not in storage until drive() hands it over (and then
    // flushes): a flush now would answer for a clock that holds its events, which storage has not got.
    if (this.snapshotOwed) return;
    if (this.flushing) {
      this.flushAgain = true;
      return;
    }
    this.flushing = true;
    const clock = this.core.clock;
    const delivered = this.core.deliveredCount;
    this.storage.flush((error) => {
      this.flushing = false;
      if (this.stopped) return;
      const ownSeq = clock[this.core.id] ?? 0;
      if (error === undefined) {
        this.core.storedUpTo(clock);
        this.core.ownStoredUpTo(ownSeq);
        this.storedDelivered = Math.max(this.storedDelivered, delivered);
        this.answerLatePushes();
        this.afterInput();
      } else {
        const refusal = new StorageUnavailable(this.storage.unavailable ?? error.message);
        for (const [waiting, answer] of this.unacknowledged) {
          if (waiting > ownSeq) continue;
          this.unacknowledged.delete(waiting);
          answer(refusal);
        }
      }
      if (this.flushAgain) {
        this.flushAgain = false;
        this.storeDelivered();
      } else if (error !== undefined) {
        this.storeRetry ??= this.timers.after(storeRetryMs, () => {
          this.storeRetry = undefined;
          this.storeDelivered();
        });
      }
    });
  }

  // ------------------------------------------------------------------ peer side

  /** Answers a peer's message (bad input throws a ValidationError, answered 4xx by the HTTP layer). */
  handle<K extends RpcName>(message: Extract<PeerMessage, { rpc: K }>): ReplyOf<K>;
  handle(message: PeerMessage): ReplyOf<RpcName> {
    const before = this.core.deliveredCount;
    const reply = this.core.handle(message, this.clock.now());
    if (this.core.deliveredCount !== before) this.causalWaiters.check();
    if (message.rpc === 'view-add' && message.request.origin?.from === message.request.address) {
      this.log.info({ event: 'announce', peer: message.request.address, incarnation: message.request.origin.incarnation }, 'replica announced itself');
    }
    this.afterInput();
    return reply;
  }

  /**
   * A peer's push, answered through `answer` (bad input throws a ValidationError, as handle() does).
   * Accepted, it is answered once storage holds everything delivered so far (at once without a
   * DATA_DIR, or when nothing is waiting to be stored; at most pushAnswerWaitMaxMs later otherwise),
   * and the answer then says that storage holds it (its `stored` clock). The sender counts its writes
   * held here only once this replica's storage holds them: answering at once would tell it only
   * after a later push or probe, many round trips after the fdatasync. Answers may come out of
   * order; the push stream puts them back in order.
   */
  receive(request: PushRequest, answer: (reply: PushReply) => void): void {
    const reply = this.handle({ rpc: 'push', request });
    const delivered = this.core.deliveredCount;
    if (reply.type !== 'accepted' || this.stopped || this.storedDelivered >= delivered || this.storage.unavailable !== undefined) return answer(reply);
    this.lateAnswers.push({ delivered, due: this.clock.now() + pushAnswerWaitMaxMs, answer });
    if (this.lateAnswerTimer === undefined) this.armLateAnswerTimer();
  }

  /** Answers the waiting pushes whose events storage holds now, and those due. */
  private answerLatePushes(): void {
    if (this.lateAnswers.length === this.lateAnswersHead) return;
    const now = this.clock.now();
    const ready: LateAnswer[] = [];
    while (this.lateAnswersHead < this.lateAnswers.length) {
      const first = this.lateAnswers[this.lateAnswersHead]!;
      if (first.delivered > this.storedDelivered && first.due > now) break;
      ready.push(first);
      this.lateAnswersHead++;
    }
    if (ready.length === 0) return;
    if (this.lateAnswersHead * 2 >= this.lateAnswers.length) {
      this.lateAnswers = this.lateAnswers.slice(this.lateAnswersHead);
      this.lateAnswersHead = 0;
    }
    const reply = this.core.acceptedReply();
    for (const late of ready) late.answer(reply);
  }

  /**
   * One timer, for the oldest push waiting (all wait equally long, so it is the first due). It is
   * not moved as pushes are answered (a timer per flush would cost more than the pushes): when it
   * fires it answers those due and is armed again for the oldest still waiting, if any.
   */
  private armLateAnswerTimer(): void {
    const first = this.lateAnswers[this.lateAnswersHead];
    if (first === undefined || this.stopped) return;
    this.lateAnswerTimer = this.timers.after(Math.max(0, first.due - this.clock.now()), () => {
      this.lateAnswerTimer = undefined;
      this.answerLatePushes();
      this.armLateAnswerTimer();
    });
  }

  /** The operation log as `GET /debug/log` shows it: what was folded out of it lately, then what it holds. */
  readLog(filter?: { origin?: ReplicaId; key?: string }): Generator<KvEvent> {
    return this.core.readLog(this.clock.now(), filter);
  }

  describe(): ReplicaDescription {
    return this.core.describe(this.clock.now());
  }

  // ------------------------------------------------------------------ driving the core

  /**
   * After any input: log view changes, answer the writes the core lets go, and soon send whatever
   * the core wants sent. Sending waits for the end of this turn (Timers.soon): the client writes
   * that arrived together then leave in one push per peer instead of the first alone and the rest
   * a round trip later. A push costs far more than the events in it; the wait is well under a
   * millisecond.
   */
  private afterInput(): void {
    if (this.stopped) return;
    this.logViewChanges();
    this.answerAcknowledged();
    if (this.driveScheduled) return;
    this.driveScheduled = true;
    this.timers.soon(() => {
      this.driveScheduled = false;
      this.drive();
    });
  }

  private answerAcknowledged(): void {
    if (this.core.writesAwaitingAck === 0) return;
    const taken = this.core.takeAcknowledged(this.clock.now());
    for (const seq of taken.acknowledged) this.settleWrite(seq, undefined);
    if (taken.unstored.length === 0) return;
    const stalled = new StorageUnavailable(this.storage.unavailable ?? `the disk has not taken the write within ${ownStoreWaitMs} ms`);
    for (const seq of taken.unstored) this.settleWrite(seq, stalled);
  }

  /** Answers our parked write `seq`: acknowledged (no error) or refused. */
  private settleWrite(seq: number, error: Error | undefined): void {
    const answer = this.unacknowledged.get(seq);
    this.unacknowledged.delete(seq);
    answer?.(error);
  }

  /** Sends whatever the core wants sent now, and arranges to be called when it next may. */
  private drive(): void {
    if (this.stopped) return;
    const now = this.clock.now();
    const delivered = this.core.deliveredCount;
    const sends = this.core.poll(now);
    // poll() may deliver too (custody whose hold-down ended, a join's snapshot): wake the requests waiting for it.
    if (this.core.deliveredCount !== delivered) this.causalWaiters.check();
    if (this.core.joined && !this.joinLogged) {
      this.joinLogged = true;
      this.causalWaiters.check();
      this.log.info({ event: 'join', how: this.core.joinState?.kind === 'joined' ? this.core.joinState.how : undefined, clock: this.core.clock, view: this.core.view(), liveKeys: this.core.liveKeys }, 'joined');
    }
    for (const send of sends) this.perform(send);
    if (this.snapshotOwed || this.storage.wantsSnapshot()) {
      this.snapshotOwed = false;
      this.storage.snapshot(this.core.storedSnapshot());
      // Answered once the snapshot is written too (storage does one thing at a time).
      this.storeDelivered();
    }
    this.logViewChanges();
    this.answerAcknowledged();
    this.scheduleWake(this.core.nextWakeAt(now));
  }

  private scheduleWake(at: number): void {
    if (this.stopped || at >= this.wakeAt) return;
    this.wakeTimer?.cancel();
    this.wakeAt = at;
    this.wakeTimer = this.timers.after(Math.max(0, at - this.clock.now()), () => {
      this.wakeAt = Number.POSITIVE_INFINITY;
      this.afterInput();
    });
  }

  private perform(send: Send): void {
    const { to, message } = send;
    if (message.rpc === 'push') {
      this.counters.pushesSent++;
      this.counters.eventsPushed += message.request.events.length;
    } else if (message.rpc === 'snapshot-push' && message.request.index === 0) {
      this.log.info({ event: 'snapshot-push', peer: to, clock: message.request.clock }, 'peer too far behind for a log suffix: sending a snapshot');
    }
    this.transport.send(to, message, send.timeoutMs, (outcome) => {
      if (this.stopped) return;
      const now = this.clock.now();
      if (message.rpc === 'push') {
        if (!outcome.ok) this.counters.pushFailures++;
        this.onPushOutcome?.(to, outcome as Outcome<PushReply>, now - send.sentAt);
      } else if (message.rpc === 'probe') {
        this.logPeerHealth(to, outcome.ok ? undefined : outcome.reason);
      } else if (message.rpc === 'view-add' && !outcome.ok) {
        this.log.debug({ event: 'announce-failed', peer: to, reason: outcome.reason }, 'announcement not delivered');
      }
      const before = this.core.deliveredCount;
      this.core.onReply(send, exchangeOf(message, outcome), now);
      if (this.core.deliveredCount !== before) this.causalWaiters.check();
      this.afterInput();
    });
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

  private logPeerHealth(peer: Address, failure: string | undefined): void {
    if (failure === undefined && this.peersDown.delete(peer)) this.log.info({ event: 'peer-up', peer }, 'peer answers again');
    if (failure !== undefined && !this.peersDown.has(peer)) {
      this.peersDown.add(peer);
      this.log.info({ event: 'peer-down', peer, reason: failure }, 'peer does not answer');
    }
  }
}
