// A seeded, deterministic simulation of a causal-kvs cluster: several pure Replica cores, a shell
// that behaves like the real one (push / snapshot / probe / announce / broadcast-delete as request
// and reply, outcomes reported back), an in-memory network that delays, drops, duplicates,
// reorders and partitions, crashes and restarts, and clients carrying causal metadata.
// Everything random comes from one seed; no timers, no Math.random.
import type { Address } from '../../events/ids.ts';
import { eventId, type KvEvent } from '../../events/kv-event.ts';
import { defaultLimits, type Limits } from '../../events/limits.ts';
import { clockCovers, compareClocks, emptyClock, type VectorClock } from '../../events/vector-clock.ts';
import type { Action, Outcome } from '../../src/core/actions.ts';
import { compareEvents } from '../../src/core/conflict-order.ts';
import { viewEntries } from '../../src/core/kv-view.ts';
import { OperationLog } from '../../src/core/operation-log.ts';
import { defaultProtocolSettings, type ProtocolSettings } from '../../src/core/protocol-settings.ts';
import { Replica, type ReadResult } from '../../src/core/replica.ts';
import { snapshotChunkEntries, type SnapshotSource } from '../../src/core/snapshot-source.ts';
import { EventQueue } from './event-queue.ts';
import { Random } from '../support/random.ts';

export interface SimOptions {
  readonly seed: number;
  /** Overrides of what the seed would choose. */
  readonly replicas?: number;
  readonly clients?: number;
  readonly chaosMs?: number;
  /** Random faults during the chaos phase (partitions, crashes, drops, duplicates). */
  readonly faults?: boolean;
  /** A scripted fault plan instead of (or besides) random faults. */
  readonly script?: (world: World) => void;
  /** Print a trace of faults and phases as they happen. */
  readonly trace?: boolean;
  /** How to replay this run, printed on failure; by default the SIM_SEED command line. */
  readonly replay?: string;
}

export interface SimReport {
  readonly seed: number;
  readonly replicas: number;
  readonly virtualMs: number;
  readonly convergedAfterMs: number;
  readonly writes: number;
  readonly reads: number;
  readonly unavailable: number;
  readonly deliveries: number;
  readonly messages: number;
  readonly dropped: number;
  readonly duplicated: number;
  readonly partitions: number;
  readonly crashes: number;
  readonly snapshotsPushed: number;
  readonly heldDownReplies: number;
  readonly compactedEvents: number;
  readonly tombstonesCollected: number;
  readonly sessionsLost: number;
  /** Snapshots pushed to a peer that already had everything in them. */
  readonly snapshotsRedundant: number;
  /** Acknowledged writes lost in crashes (only allowed when no peer held them at the time of the answer, or after several crashes). */
  readonly ackedWritesLost: number;
}

export class SimulationFailure extends Error {
  constructor(
    readonly seed: number,
    readonly at: number,
    message: string,
    trace: readonly string[],
    replay: string,
  ) {
    super(
      `simulation seed ${seed} failed at virtual ${at} ms: ${message}\n` +
        `  replay: ${replay}   (add SIM_TRACE=1 for a trace)\n` +
        (trace.length > 0 ? `  last trace lines:\n    ${trace.join('\n    ')}` : ''),
    );
    this.name = 'SimulationFailure';
  }
}

interface AckWaiter {
  readonly event: KvEvent;
  readonly deadline: number;
  /** Answers the client: why the write was acknowledged, or undefined when the connection broke. */
  readonly respond: (reason: 'replicated' | 'no-peer' | 'timeout' | undefined) => void;
}

interface Node {
  readonly index: number;
  readonly address: Address;
  replica: Replica | undefined;
  generation: number;
  joined: boolean;
  wakeAt: number;
  wakeToken: number;
  ackWaiters: AckWaiter[];
}

interface Client {
  readonly index: number;
  metadata: VectorClock;
  home: number;
  readonly sticky: boolean;
  /** Since when every attempt was refused (503 or unreachable); undefined when the last one was served. */
  refusedSince: number | undefined;
  nextValue: number;
}

type ClientOp = { readonly type: 'get'; readonly key: string } | { readonly type: 'put'; readonly key: string; readonly value: string } | { readonly type: 'delete'; readonly key: string };

type ClientAnswer =
  | { readonly status: 'served'; readonly metadata: VectorClock }
  | { readonly status: 'not-found'; readonly metadata: VectorClock }
  | { readonly status: 'unavailable'; readonly reason: string };

const requestTimeoutMs = 800;
const writeAckTimeoutMs = 1000;
const compactionIntervalMs = 1000;
const clientGiveUpMs = 20_000;

/** Internal access to a replica's log, to watch every delivery as it happens (test-only). */
function replicaLog(replica: Replica): OperationLog {
  const log = (replica as unknown as { log: unknown }).log;
  if (!(log instanceof OperationLog)) throw new Error('cannot watch deliveries: Replica no longer keeps its OperationLog in `log`');
  return log;
}

export class World {
  readonly random: Random;
  private readonly faultRandom: Random;
  private readonly netRandom: Random;
  private readonly clientRandom: Random;
  readonly queue = new EventQueue();
  now = 0;
  readonly nodes: Node[];
  private readonly clients: Client[];
  readonly limits: Limits;
  readonly settings: ProtocolSettings;
  private readonly cut = new Map<string, number>();
  dropRate: number;
  dupRate: number;
  longDelayRate: number;
  private clientsActive = true;
  /** The workload: which keys, and how often a client reads and deletes (the rest are puts). */
  private readonly keys: readonly string[];
  private readonly readShare: number;
  private readonly deleteShare: number;
  private faultsActive: boolean;
  private readonly chaosMs: number;
  private readonly traceLines: string[] = [];
  private readonly traceToStdout: boolean;
  /** Every event ever made, by id: the oracle. */
  private readonly registry = new Map<string, KvEvent>();
  private readonly eventsByKey = new Map<string, KvEvent[]>();
  /** Replica ids of lives that were killed: only their events may be lost. */
  private readonly killedIds = new Set<string>();
  /** The delivered clock of each life when it was killed: what died with it. */
  private readonly killedClocks: VectorClock[] = [];
  private readonly stats = {
    writes: 0,
    reads: 0,
    unavailable: 0,
    deliveries: 0,
    messages: 0,
    dropped: 0,
    duplicated: 0,
    partitions: 0,
    crashes: 0,
    snapshotsPushed: 0,
    heldDownReplies: 0,
    compactedEvents: 0,
    tombstonesCollected: 0,
    sessionsLost: 0,
    snapshotsRedundant: 0,
    ackedWritesLost: 0,
  };
  /** Why each acknowledged write was answered: a peer held it, no peer was reachable, or the wait timed out. */
  private readonly ackReasons = new Map<string, 'replicated' | 'no-peer' | 'timeout'>();
  /** The last delivered clock seen of each replica life: it may only grow. */
  private readonly lastClocks = new WeakMap<Replica, VectorClock>();
  /** Snapshots pushed, per receiving address. */
  readonly snapshotsTo = new Map<Address, number>();

  constructor(private readonly options: SimOptions) {
    this.random = new Random(options.seed);
    this.faultRandom = this.random.fork();
    this.netRandom = this.random.fork();
    this.clientRandom = this.random.fork();
    const r = this.random;
    const replicaCount = options.replicas ?? r.int(3, 5);
    const clientCount = options.clients ?? r.int(2, 5);
    this.chaosMs = options.chaosMs ?? r.int(6_000, 12_000);
    this.faultsActive = options.faults ?? true;
    this.traceToStdout = options.trace ?? false;
    this.dropRate = this.faultsActive ? r.pick([0, 0.02, 0.1, 0.2]) : 0;
    this.dupRate = this.faultsActive ? r.pick([0, 0.05, 0.15]) : 0;
    this.longDelayRate = this.faultsActive ? r.pick([0, 0.03, 0.1]) : 0;
    this.keys = Array.from({ length: r.pick([3, 8, 30]) }, (_, i) => `k${i}`);
    this.readShare = r.pick([0.2, 0.45, 0.7]);
    this.deleteShare = r.pick([0.1, 0.3]);
    this.limits = {
      ...defaultLimits,
      pushBatchEventsMax: r.pick([3, 20, 2000]),
      snapshotChunkKeysMax: r.pick([2, 5, 10_000]),
      pendingEventsMax: r.pick([10, 100_000]),
    };
    this.settings = {
      ...defaultProtocolSettings,
      linkHoldDownMs: r.pick([1000, 2500, 5000]),
      logEventsMax: r.pick([30, 100_000]),
    };
    const addresses = Array.from({ length: replicaCount }, (_, i) => `10.0.0.${i + 1}:8090` as Address);
    this.nodes = addresses.map((address, index) => ({
      index,
      address,
      replica: undefined,
      generation: 0,
      joined: false,
      wakeAt: Number.POSITIVE_INFINITY,
      wakeToken: 0,
      ackWaiters: [],
    }));
    this.clients = Array.from({ length: clientCount }, (_, index) => ({
      index,
      metadata: emptyClock,
      home: r.int(0, replicaCount - 1),
      sticky: r.chance(0.5),
      refusedSince: undefined,
      nextValue: 0,
    }));
    this.trace(
      `seed ${options.seed}: ${replicaCount} replicas, ${clientCount} clients, chaos ${this.chaosMs} ms, drop ${this.dropRate}, dup ${this.dupRate}, ` +
        `long delays ${this.longDelayRate}, hold-down ${this.settings.linkHoldDownMs} ms, logEventsMax ${this.settings.logEventsMax}, ` +
        `batch ${this.limits.pushBatchEventsMax}, chunk ${this.limits.snapshotChunkKeysMax}, pending ${this.limits.pendingEventsMax}, ` +
        `${this.keys.length} keys, reads ${this.readShare}, deletes ${this.deleteShare}`,
    );
  }

  // ------------------------------------------------------------------ running

  run(): SimReport {
    for (const node of this.nodes) this.schedule(this.random.int(0, 300), () => this.start(node));
    for (const node of this.nodes) this.scheduleCompaction(node, 1000 + this.random.int(0, compactionIntervalMs));
    for (const client of this.clients) this.schedule(500 + this.clientRandom.int(0, 200), () => this.clientTick(client));
    if (this.faultsActive) this.schedule(1000 + this.faultRandom.int(0, 1000), () => this.randomFault());
    this.options.script?.(this);
    this.runUntil(this.chaosMs);

    // Final phase: everything healed and alive, no more drops or duplicates, no new client work.
    this.trace('final phase: heal, restart the dead, no drops');
    this.faultsActive = false;
    this.clientsActive = false;
    this.cut.clear();
    this.dropRate = 0;
    this.dupRate = 0;
    this.longDelayRate = 0;
    for (const node of this.nodes) if (node.replica === undefined) this.restart(node);
    const healedAt = this.now;
    const bound = this.settings.linkHoldDownMs + 15_000;
    while (!this.converged()) {
      if (this.now - healedAt > bound) this.fail(`no convergence within ${bound} ms after the heal:\n${this.describeAll()}`);
      this.runUntil(this.now + 100);
    }
    const convergedAfterMs = this.now - healedAt;
    this.trace(`converged ${convergedAfterMs} ms after the heal`);
    this.checkFinalState();
    // Quiescent compaction: after a few probe rounds every replica knows every other has
    // everything, so all events and all tombstones go, everywhere, and the views are identical.
    for (let round = 0; round < 4; round++) {
      this.runUntil(this.now + this.settings.probeIntervalMs + 500);
      for (const node of this.nodes) this.compact(node);
    }
    this.checkCompacted();
    return {
      seed: this.options.seed,
      replicas: this.nodes.length,
      virtualMs: this.now,
      convergedAfterMs,
      ...this.stats,
    };
  }

  runUntil(time: number): void {
    for (;;) {
      const next = this.queue.peekTime();
      if (next === undefined || next > time) break;
      const entry = this.queue.pop()!;
      this.now = entry.at;
      entry.run();
    }
    this.now = Math.max(this.now, time);
  }

  schedule(at: number, run: () => void): void {
    if (at < this.now) throw new Error(`scheduling in the past (${at} < ${this.now})`);
    this.queue.push(at, () => {
      try {
        run();
      } catch (error) {
        if (error instanceof SimulationFailure) throw error;
        this.fail(`exception: ${(error as Error).stack ?? String(error)}`);
      }
    });
  }

  trace(line: string): void {
    const stamped = `[${String(this.now).padStart(6)}] ${line}`;
    this.traceLines.push(stamped);
    if (this.traceLines.length > 60) this.traceLines.shift();
    if (this.traceToStdout) console.log(stamped);
  }

  fail(message: string): never {
    const chaos = this.options.chaosMs === undefined ? '' : `SIM_CHAOS_MS=${this.options.chaosMs} `;
    const replay = this.options.replay ?? `${chaos}SIM_SEED=${this.options.seed} npx tsx test/simulation/simulation.test.ts`;
    throw new SimulationFailure(this.options.seed, this.now, message, this.traceLines, replay);
  }

  // ------------------------------------------------------------------ replicas and their shell

  private start(node: Node): void {
    node.generation++;
    // Unique per address (the life count leads, at a fixed width), as a real start's would be.
    const incarnation = `${node.generation.toString(36).padStart(3, '0')}${this.random.int(0, 36 ** 3 - 1).toString(36)}`;
    const replica = new Replica({
      self: node.address,
      incarnation,
      initialView: this.nodes.map((n) => n.address),
      limits: this.limits,
      settings: this.settings,
      now: this.now,
    });
    this.watchDeliveries(node, replica);
    node.replica = replica;
    node.joined = false;
    node.wakeAt = Number.POSITIVE_INFINITY;
    node.wakeToken++;
    node.ackWaiters = [];
    this.trace(`${node.address} starts as ${replica.id}`);
    this.join(node, replica, this.nodes.filter((n) => n !== node).map((n) => n.address), this.now + 3 * requestTimeoutMs);
  }

  /** As the shell does at start: pull one snapshot from the first peer that answers, then announce. */
  private join(node: Node, replica: Replica, candidates: Address[], deadline: number): void {
    const [from, ...rest] = candidates;
    if (from === undefined || this.now >= deadline) {
      this.finishJoin(node, replica, 'no peer answered');
      return;
    }
    this.request<SnapshotSource & { from: Address; incarnation: string }>(
      node,
      from,
      'pull-snapshot',
      (_target, peer) => ({ ...peer.snapshot(), from: peer.self, incarnation: peer.incarnation }),
      (outcome) => {
        if (!outcome.ok) {
          this.join(node, replica, rest, deadline);
          return;
        }
        replica.installSnapshot(outcome.reply.entries, outcome.reply.clock);
        replica.learnView(outcome.reply.view, this.now, outcome.reply);
        this.finishJoin(node, replica, `pulled a snapshot from ${from}`);
      },
    );
  }

  private finishJoin(node: Node, replica: Replica, how: string): void {
    if (node.replica !== replica) return;
    replica.announce();
    node.joined = true;
    this.trace(`${node.address} joined (${how}) at ${JSON.stringify(replica.clock)}`);
    this.afterInput(node);
  }

  restart(node: Node): void {
    if (node.replica !== undefined) return;
    this.start(node);
  }

  kill(node: Node): void {
    const replica = node.replica;
    if (replica === undefined) return;
    this.stats.crashes++;
    this.killedIds.add(replica.id);
    this.killedClocks.push(replica.clock);
    this.trace(`${node.address} (${replica.id}) crashes`);
    node.replica = undefined;
    node.joined = false;
    node.wakeToken++;
    const waiters = node.ackWaiters;
    node.ackWaiters = [];
    for (const waiter of waiters) waiter.respond(undefined);
  }

  /**
   * Checks every delivery as it happens: never before its causal past, never twice (the log
   * refuses gaps and repeats), never made up. The core advances its delivered clock to include the
   * event just before appending it, so at this point the clock must be exactly the event's past
   * plus the event.
   */
  private watchDeliveries(node: Node, replica: Replica): void {
    const log = replicaLog(replica);
    const append = log.append.bind(log);
    log.append = (event: KvEvent) => {
      const clock = replica.clock;
      if (clock[event.origin] !== event.seq || !clockCovers(clock, event.clock)) {
        this.fail(`${node.address} delivered ${eventId(event)} (clock ${JSON.stringify(event.clock)}) before its causal past; delivered ${JSON.stringify(clock)}`);
      }
      if (event.origin === replica.id && !this.registry.has(eventId(event))) this.register(event);
      const original = this.registry.get(eventId(event));
      if (original === undefined) this.fail(`${node.address} delivered ${eventId(event)}, which no client wrote`);
      if (original !== event && JSON.stringify(original) !== JSON.stringify(event)) {
        this.fail(`${node.address} delivered ${eventId(event)} altered: ${JSON.stringify(event)} vs ${JSON.stringify(original)}`);
      }
      this.stats.deliveries++;
      append(event);
    };
  }

  /** As the shell does after every input: wake ack waiters, send what the core wants sent, schedule the next wake. */
  afterInput(node: Node): void {
    const replica = node.replica;
    if (replica === undefined) return;
    const last = this.lastClocks.get(replica);
    if (last !== undefined && last !== replica.clock && !clockCovers(replica.clock, last)) {
      this.fail(`${node.address}'s delivered clock went back from ${JSON.stringify(last)} to ${JSON.stringify(replica.clock)}`);
    }
    this.lastClocks.set(replica, replica.clock);
    this.checkAckWaiters(node);
    for (const action of replica.poll(this.now)) this.perform(node, replica, action);
    this.scheduleWake(node, replica.nextWakeAt(this.now));
  }

  private scheduleWake(node: Node, at: number): void {
    if (at >= node.wakeAt) return;
    node.wakeAt = at;
    const token = ++node.wakeToken;
    this.schedule(at, () => {
      if (node.wakeToken !== token) return;
      node.wakeAt = Number.POSITIVE_INFINITY;
      this.afterInput(node);
    });
  }

  private scheduleCompaction(node: Node, at: number): void {
    this.schedule(at, () => {
      this.compact(node);
      this.scheduleCompaction(node, this.now + compactionIntervalMs);
    });
  }

  private compact(node: Node): void {
    const replica = node.replica;
    if (replica === undefined) return;
    const tombstones = replica.describe(this.now).tombstones;
    this.stats.compactedEvents += replica.compact();
    this.stats.tombstonesCollected += tombstones - replica.describe(this.now).tombstones;
  }

  private perform(node: Node, replica: Replica, action: Action): void {
    const identity = { from: node.address, incarnation: replica.incarnation };
    switch (action.type) {
      case 'push':
        this.request(
          node,
          action.to,
          'push',
          (_target, peer, now) => peer.receivePush({ ...identity, events: action.events, clock: action.clock }, now),
          (outcome) => {
            if (outcome.ok && outcome.reply.type === 'held-down') this.stats.heldDownReplies++;
            replica.onPushResult(action.to, action.sentAt, outcome, this.now);
          },
        );
        return;
      case 'push-snapshot':
        this.stats.snapshotsPushed++;
        this.snapshotsTo.set(action.to, (this.snapshotsTo.get(action.to) ?? 0) + 1);
        this.trace(`${node.address} pushes a snapshot (${action.snapshot.entries.length} keys) to ${action.to}`);
        this.pushSnapshotChunk(node, replica, action, 0);
        return;
      case 'probe':
        this.request(
          node,
          action.to,
          'probe',
          (_target, peer) => peer.healthReply(),
          (outcome) => replica.onProbeResult(action.to, action.sentAt, outcome, this.now),
        );
        return;
      case 'announce':
        this.request(node, action.to, 'announce', (_target, peer, now) => peer.addToView(node.address, { ...identity, clock: action.clock }, now), undefined);
        return;
      case 'broadcast-delete':
        this.trace(`${node.address} tells ${action.to} to drop ${action.address}`);
        this.request(node, action.to, 'broadcast-delete', (_target, peer) => peer.removeFromView(action.address, identity), undefined);
        return;
    }
  }

  private pushSnapshotChunk(node: Node, replica: Replica, action: Extract<Action, { type: 'push-snapshot' }>, index: number): void {
    const { entries, last } = snapshotChunkEntries(action.snapshot, index, this.limits.snapshotChunkKeysMax);
    const { snapshotId, clock, view } = action.snapshot;
    const chunk = { from: node.address, incarnation: replica.incarnation, snapshotId, index, last, clock, view, entries };
    this.request(
      node,
      action.to,
      'snapshot-chunk',
      (_target, peer, now) => {
        if (index === 0 && peer.covers(clock)) this.stats.snapshotsRedundant++;
        return peer.receiveSnapshotChunk(chunk, now);
      },
      (outcome) => {
        if (outcome.ok && outcome.reply.type === 'accepted' && !last) {
          this.pushSnapshotChunk(node, replica, action, index + 1);
          return;
        }
        if (outcome.ok && outcome.reply.type === 'held-down') this.stats.heldDownReplies++;
        replica.onPushResult(action.to, action.sentAt, outcome, this.now);
      },
    );
  }

  // ------------------------------------------------------------------ the network

  private linkUp(a: Address, b: Address): boolean {
    return !this.cut.has(a < b ? `${a}|${b}` : `${b}|${a}`);
  }

  private delay(): number {
    return this.netRandom.chance(this.longDelayRate) ? this.netRandom.int(200, 1500) : this.netRandom.int(1, 40);
  }

  /**
   * One request and its reply between two replicas. The handler runs at the receiver when (and
   * each time) the request arrives; the sender hears exactly one outcome, unless it died or was
   * replaced meanwhile, just as a real HTTP client with a timeout would.
   */
  private request<Reply>(
    from: Node,
    to: Address,
    kind: string,
    handle: (target: Node, replica: Replica, now: number) => Reply,
    onOutcome: ((outcome: Outcome<Reply>) => void) | undefined,
  ): void {
    const sender = from.replica;
    if (sender === undefined) return;
    this.stats.messages++;
    const timeoutAt = this.now + requestTimeoutMs;
    let settled = false;
    const settle = (at: number, outcome: Outcome<Reply>) => {
      this.schedule(Math.max(at, this.now), () => {
        if (settled) return;
        settled = true;
        if (from.replica !== sender || onOutcome === undefined) return;
        onOutcome(outcome);
        this.afterInput(from);
      });
    };
    const timeout = (why: string) => settle(timeoutAt, { ok: false, reason: `${kind} timed out (${why})` });
    const arrive = (primary: boolean) => {
      if (!this.linkUp(from.address, to)) {
        if (primary) timeout('link cut');
        return;
      }
      const target = this.nodes.find((node) => node.address === to);
      const receiver = target?.replica;
      if (target === undefined || receiver === undefined) {
        if (primary) settle(Math.min(this.now + this.delay(), timeoutAt), { ok: false, reason: `${kind} refused: ECONNREFUSED` });
        return;
      }
      const reply = handle(target, receiver, this.now);
      this.afterInput(target);
      if (!primary) return;
      if (this.netRandom.chance(this.dropRate)) {
        this.stats.dropped++;
        timeout('reply lost');
        return;
      }
      const back = this.now + this.delay();
      if (back > timeoutAt) {
        timeout('reply too late');
        return;
      }
      this.schedule(back, () => {
        if (!this.linkUp(from.address, to)) timeout('link cut on the way back');
        else settle(this.now, { ok: true, reply });
      });
    };
    if (this.netRandom.chance(this.dropRate)) {
      this.stats.dropped++;
      timeout('request lost');
    } else {
      this.schedule(this.now + this.delay(), () => arrive(true));
    }
    if (this.netRandom.chance(this.dupRate)) {
      this.stats.duplicated++;
      this.schedule(this.now + this.netRandom.int(1, 2500), () => arrive(false));
    }
  }

  /** Cuts every link between `group` and the rest for `durationMs`. */
  partition(group: readonly Node[], durationMs: number, others: readonly Node[] = this.nodes.filter((n) => !group.includes(n))): void {
    this.stats.partitions++;
    const pairs: string[] = [];
    for (const a of group) {
      for (const b of others) {
        if (a === b) continue;
        const key = a.address < b.address ? `${a.address}|${b.address}` : `${b.address}|${a.address}`;
        pairs.push(key);
        this.cut.set(key, (this.cut.get(key) ?? 0) + 1);
      }
    }
    this.trace(`partition {${group.map((n) => n.index).join(',')}} | {${others.map((n) => n.index).join(',')}} for ${durationMs} ms`);
    this.schedule(this.now + durationMs, () => {
      for (const key of pairs) {
        const count = (this.cut.get(key) ?? 0) - 1;
        if (count > 0) this.cut.set(key, count);
        else this.cut.delete(key);
      }
      this.trace(`partition {${group.map((n) => n.index).join(',')}} heals`);
    });
  }

  private randomFault(): void {
    if (!this.faultsActive) return;
    const r = this.faultRandom;
    const n = this.nodes.length;
    const dead = this.nodes.filter((node) => node.replica === undefined).length;
    const roll = r.next();
    if (roll < 0.35) {
      this.partition([r.pick(this.nodes)], r.int(300, 4000));
    } else if (roll < 0.5) {
      // Long enough to leave the others' views and be compacted past: it will need a snapshot.
      this.partition([r.pick(this.nodes)], r.int(6000, 10_000));
    } else if (roll < 0.65) {
      const shuffled = r.shuffle(this.nodes);
      this.partition(shuffled.slice(0, r.int(1, n - 1)), r.int(500, 5000));
    } else if (roll < 0.75) {
      const [a, b] = r.shuffle(this.nodes);
      this.partition([a!], r.int(500, 5000), [b!]);
    } else if (roll < 0.9 && dead === 0) {
      const victim = r.pick(this.nodes);
      this.kill(victim);
      this.schedule(this.now + r.int(200, 6000), () => {
        if (this.faultsActive) this.restart(victim);
      });
    }
    this.schedule(this.now + r.int(500, 2500), () => this.randomFault());
  }

  // ------------------------------------------------------------------ clients

  private clientTick(client: Client): void {
    if (!this.clientsActive) return;
    const r = this.clientRandom;
    const key = r.pick(this.keys);
    const roll = r.next();
    const op: ClientOp =
      roll < this.readShare
        ? { type: 'get', key }
        : roll < this.readShare + (1 - this.readShare) * this.deleteShare
          ? { type: 'delete', key }
          : { type: 'put', key, value: `c${client.index}v${++client.nextValue}` };
    const target = client.sticky ? this.nodes[client.home]! : r.pick(this.nodes);
    const sentMetadata = client.metadata;
    this.schedule(this.now + r.int(1, 15), () =>
      this.serve(target, op, sentMetadata, (answer) => {
        this.schedule(this.now + r.int(1, 15), () => this.clientAnswered(client, op, sentMetadata, answer));
      }),
    );
  }

  private clientAnswered(client: Client, op: ClientOp, sent: VectorClock, answer: ClientAnswer): void {
    if (answer.status === 'unavailable') {
      this.stats.unavailable++;
      client.refusedSince ??= this.now;
      if (this.clientRandom.chance(0.5)) client.home = this.clientRandom.int(0, this.nodes.length - 1);
      if (this.now - client.refusedSince > clientGiveUpMs) this.maybeAbandonSession(client);
    } else {
      client.refusedSince = undefined;
      if (!clockCovers(answer.metadata, sent)) {
        this.fail(`a ${op.type} of ${op.key} answered metadata ${JSON.stringify(answer.metadata)} that does not cover the metadata sent ${JSON.stringify(sent)}`);
      }
      client.metadata = answer.metadata;
    }
    this.schedule(this.now + this.clientRandom.int(20, 300), () => this.clientTick(client));
  }

  /** A client whose past includes a write that died with its replica can never be served again: it starts over. */
  private maybeAbandonSession(client: Client): void {
    for (const id in client.metadata) {
      if (!this.killedIds.has(id)) continue;
      const seq = client.metadata[id as keyof VectorClock]!;
      const anyoneHasIt = this.nodes.some((node) => (node.replica?.clock[id as keyof VectorClock] ?? 0) >= seq);
      if (!anyoneHasIt) {
        this.trace(`client ${client.index} starts a new session: its past includes ${id}#${seq}, lost in a crash`);
        this.stats.sessionsLost++;
        client.metadata = emptyClock;
        client.refusedSince = undefined;
        return;
      }
    }
  }

  /** What the HTTP layer does with one client request, with CAUSAL_WAIT_MS = 0. */
  private serve(node: Node, op: ClientOp, metadata: VectorClock, answer: (answer: ClientAnswer) => void): void {
    const replica = node.replica;
    if (replica === undefined || !node.joined) {
      answer({ status: 'unavailable', reason: 'replica down or joining' });
      return;
    }
    if (!replica.covers(metadata)) {
      answer({ status: 'unavailable', reason: '503 causal dependencies not satisfied' });
      return;
    }
    const read = replica.read(op.key, metadata);
    this.checkRead(node, replica, op.key, metadata, read);
    if (op.type === 'get') {
      this.stats.reads++;
      answer({ status: read.found === undefined ? 'not-found' : 'served', metadata: read.metadata });
      return;
    }
    if (op.type === 'delete' && read.found === undefined) {
      answer({ status: 'not-found', metadata: read.metadata });
      return;
    }
    const { event } = replica.write(op.key, op.type === 'put' ? op.value : undefined, metadata);
    this.stats.writes++;
    if (!clockCovers(event.clock, metadata)) this.fail(`write ${eventId(event)} does not cover the client's metadata`);
    // As the shell: answer once a peer holds the event, or no peer can be reached, or after a bound.
    node.ackWaiters.push({
      event,
      deadline: this.now + writeAckTimeoutMs,
      respond: (reason) => {
        if (reason !== undefined) this.ackReasons.set(eventId(event), reason);
        answer(reason !== undefined ? { status: 'served', metadata: event.clock } : { status: 'unavailable', reason: 'connection reset' });
      },
    });
    this.schedule(this.now + writeAckTimeoutMs, () => this.checkAckWaiters(node));
    this.afterInput(node);
  }

  /** A client write just made an event: the oracle learns it. */
  private register(event: KvEvent): void {
    this.registry.set(eventId(event), event);
    let list = this.eventsByKey.get(event.key);
    if (list === undefined) this.eventsByKey.set(event.key, (list = []));
    list.push(event);
  }

  private checkAckWaiters(node: Node): void {
    const replica = node.replica;
    if (replica === undefined || node.ackWaiters.length === 0) return;
    const reachable = replica.hasPeerInView();
    const waiting: AckWaiter[] = [];
    for (const waiter of node.ackWaiters) {
      if (replica.isReplicated(waiter.event)) waiter.respond('replicated');
      else if (!reachable) waiter.respond('no-peer');
      else if (this.now >= waiter.deadline) waiter.respond('timeout');
      else waiting.push(waiter);
    }
    node.ackWaiters = waiting;
  }

  // ------------------------------------------------------------------ checks

  /** The winner the fold of every event this replica has delivered would show for `key`. */
  private expectedWinner(replica: Replica, key: string): KvEvent | undefined {
    let best: KvEvent | undefined;
    for (const event of this.eventsByKey.get(key) ?? []) {
      if ((replica.clock[event.origin] ?? 0) < event.seq) continue;
      if (best === undefined || compareEvents(event, best) > 0) best = event;
    }
    return best;
  }

  /**
   * Read-your-writes and monotonic reads: the version read is not older than any write to the key
   * that the client's metadata covers (its own writes, and whatever it read before). And the read
   * equals the fold of the events the replica has delivered.
   */
  private checkRead(node: Node, replica: Replica, key: string, metadata: VectorClock, read: ReadResult): void {
    const seen = (this.eventsByKey.get(key) ?? []).filter((event) => (metadata[event.origin] ?? 0) >= event.seq);
    let latestSeen: KvEvent | undefined;
    for (const event of seen) if (latestSeen === undefined || compareEvents(event, latestSeen) > 0) latestSeen = event;
    const found = read.found;
    if (found !== undefined) {
      if (this.registry.get(eventId(found)) !== found && JSON.stringify(this.registry.get(eventId(found))) !== JSON.stringify(found)) {
        this.fail(`${node.address} read ${key} = ${JSON.stringify(found)}, which no client wrote`);
      }
      for (const event of seen) {
        if (compareEvents(found, event) < 0) {
          this.fail(
            `${node.address} read ${key} as ${eventId(found)} although the client's metadata covers the later ${event.type} ${eventId(event)} ` +
              `(${compareClocks(found.clock, event.clock) === 'before' ? 'causally older: read-your-writes / monotonic reads broken' : 'loses the conflict order'})`,
          );
        }
      }
      if (!clockCovers(read.metadata, found.clock)) this.fail(`read metadata does not cover the version read (${eventId(found)})`);
    } else if (latestSeen?.type === 'put') {
      const superseded = (this.eventsByKey.get(key) ?? []).some(
        (event) => event.type === 'delete' && replica.covers(event.clock) && compareEvents(event, latestSeen) > 0,
      );
      if (!superseded) this.fail(`${node.address} read ${key} as not found, but the client has seen ${eventId(latestSeen)} and no later delete is delivered there`);
    }
    if (!clockCovers(read.metadata, metadata)) this.fail('read metadata does not cover the metadata sent');
    const expected = this.expectedWinner(replica, key);
    const expectedFound = expected?.type === 'put' ? expected : undefined;
    if (expectedFound !== found) {
      this.fail(
        `${node.address} read ${key} as ${found ? eventId(found) : 'not found'}, but the fold of its delivered events gives ` +
          `${expected ? `${expected.type} ${eventId(expected)}` : 'nothing'}`,
      );
    }
  }

  /** All alive and joined, same clock, same readable contents, same view, nothing pending. */
  /**
   * Waiting events that could still be delivered. An orphan (its causal past includes a write no
   * live replica holds: two lives holding it crashed, beyond the one crash the store tolerates)
   * can never be, and is not a failure to converge.
   */
  private pendingBesidesOrphans(replica: Replica): number {
    if (replica.pendingSize === 0) return 0;
    const held: Record<string, number> = {};
    for (const node of this.nodes) {
      for (const [id, seq] of Object.entries(node.replica?.clock ?? {})) held[id] = Math.max(held[id] ?? 0, seq);
    }
    const waiting = [...(replica as unknown as { pending: { byOrigin: Map<string, Map<number, KvEvent>> } }).pending.byOrigin.values()].flatMap((m) => [...m.values()]);
    return waiting.filter((event) =>
      Object.entries(event.clock).every(([id, seq]) => (held[id] ?? 0) >= (id === event.origin ? seq - 1 : seq)),
    ).length;
  }

  private converged(): boolean {
    const first = this.nodes[0]!.replica;
    if (first === undefined) return false;
    const contents = JSON.stringify(readable(first));
    const view = first.view().join(',');
    const all = this.nodes.map((n) => n.address).sort().join(',');
    for (const node of this.nodes) {
      const replica = node.replica;
      if (replica === undefined || !node.joined || this.pendingBesidesOrphans(replica) > 0) return false;
      if (compareClocks(replica.clock, first.clock) !== 'equal') return false;
      if (replica.view().join(',') !== view || [...replica.view()].sort().join(',') !== all) return false;
      if (JSON.stringify(readable(replica)) !== contents) return false;
    }
    return true;
  }

  private checkFinalState(): void {
    const replica = this.nodes[0]!.replica!;
    const clock = replica.clock;
    // Every key reads as the fold of every event delivered (the same everywhere now).
    for (const key of this.keys) {
      const expected = this.expectedWinner(replica, key);
      for (const node of this.nodes) {
        const found = node.replica!.read(key, emptyClock).found;
        if (found !== (expected?.type === 'put' ? expected : undefined)) {
          this.fail(`after convergence ${node.address} reads ${key} as ${found ? eventId(found) : 'not found'}, expected ${expected ? eventId(expected) : 'nothing'}`);
        }
      }
    }
    // Only the writes of a life that crashed may be lost; and a write acknowledged once a peer
    // held it is only lost if at least two lives that held it crashed.
    for (const event of this.registry.values()) {
      if ((clock[event.origin] ?? 0) >= event.seq) continue;
      if (!this.killedIds.has(event.origin)) this.fail(`${eventId(event)} was lost although its replica never crashed`);
      const reason = this.ackReasons.get(eventId(event));
      if (reason === undefined) continue;
      this.stats.ackedWritesLost++;
      const holders = this.killedClocks.filter((killed) => (killed[event.origin] ?? 0) >= event.seq).length;
      if (reason === 'replicated' && holders < 2) {
        this.fail(`${eventId(event)} was acknowledged once a peer held it, yet lost when only ${holders} of the lives holding it crashed`);
      }
    }
    for (const client of this.clients) {
      for (const id in client.metadata) {
        const seq = client.metadata[id as keyof VectorClock]!;
        if ((clock[id as keyof VectorClock] ?? 0) < seq && !this.killedIds.has(id)) {
          this.fail(`client ${client.index} has seen ${id}#${seq}, which no replica has after convergence`);
        }
      }
    }
  }

  private checkCompacted(): void {
    const first = this.nodes[0]!.replica!;
    const entries = JSON.stringify(allEntries(first));
    for (const node of this.nodes) {
      const replica = node.replica!;
      const described = replica.describe(this.now);
      if (described.logLength !== 0) this.fail(`${node.address} still holds ${described.logLength} events after quiescent compaction`);
      if (described.tombstones !== 0) this.fail(`${node.address} still holds ${described.tombstones} tombstones after quiescent compaction`);
      if (JSON.stringify(allEntries(replica)) !== entries) this.fail(`view contents differ after compaction:\n${this.describeAll()}`);
    }
  }

  describeAll(): string {
    return this.nodes
      .map((node) => {
        const replica = node.replica;
        if (replica === undefined) return `  ${node.address}: down`;
        const d = replica.describe(this.now);
        return (
          `  ${node.address} ${d.id} joined=${node.joined} clock=${JSON.stringify(d.clock)} view=${d.view.join(',')} pending=${d.pendingEvents} log=${d.logLength}\n` +
          `    contents=${JSON.stringify(readable(replica))}\n` +
          d.peers
            .map(
              (p) =>
                `    peer ${p.address} inc=${p.incarnation} inView=${p.inView} probed=${p.probed} misses=${p.missedProbes} lacks=${p.lacksEvents} ` +
                `link=${p.link.state}(${p.link.heldDownRemainingMs} ms) known=${JSON.stringify(p.knownDelivered)}`,
            )
            .join('\n')
        );
      })
      .join('\n');
  }

  nodeAt(index: number): Node {
    return this.nodes[index]!;
  }
}

function readable(replica: Replica): Record<string, string> {
  const out: Record<string, string> = {};
  for (const event of [...viewEntries(replica.viewSnapshot())].sort((a, b) => (a.key < b.key ? -1 : 1))) {
    if (event.type === 'put') out[event.key] = eventId(event);
  }
  return out;
}

function allEntries(replica: Replica): string[] {
  return [...viewEntries(replica.viewSnapshot())].map((event) => `${event.key}=${event.type}:${eventId(event)}`).sort();
}
