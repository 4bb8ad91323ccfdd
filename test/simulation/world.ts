// A seeded, deterministic simulation of a causal-kvs cluster, after TigerBeetle's VOPR: the
// production ReplicaNode, several of them, over a simulated network (network.ts) that delays,
// drops, duplicates, reorders and partitions, with crashes and restarts, virtual time, and clients
// carrying causal metadata (workload.ts); the oracle (oracle.ts) checks every answer and the final
// state. Everything random comes from one seed; no timers, no sockets, no Math.random.
import type { Address } from '../../events/ids.ts';
import { defaultLimits, type Limits } from '../../events/limits.ts';
import { groupOfShard, initialShardMap, membersOf, shardOfKey, shardOfNode, type ShardMap } from '../../events/shard-map.ts';
import { defaultProtocolSettings, type ProtocolSettings } from '../../src/core/protocol-settings.ts';
import type { Replica } from '../../src/core/replica.ts';
import { Random } from '../support/random.ts';
import { EventQueue } from './event-queue.ts';
import { SimHost } from './host.ts';
import { SimNetwork } from './network.ts';
import { Oracle, readable } from './oracle.ts';
import { emptyStats, SimulationFailure, type SimReport } from './report.ts';
import { Workload } from './workload.ts';

export interface SimOptions {
  readonly seed: number;
  /** Overrides of what the seed would choose. */
  readonly replicas?: number;
  readonly clients?: number;
  readonly chaosMs?: number;
  /** Random faults during the chaos phase (partitions, crashes, drops, duplicates). */
  readonly faults?: boolean;
  /** Every address keeps a DATA_DIR (by default the seed decides). */
  readonly durable?: boolean;
  /**
   * A sharded store: the replicas split into this many shards (round-robin, as SHARD_COUNT splits
   * a VIEW), each a replica group of its own; clients send each key to its shard's members and
   * carry one metadata token across shards. Groups keep their data in memory, as sharded nodes do.
   */
  readonly shards?: number;
  /** Protocol settings over what the seed would choose. */
  readonly settings?: Partial<ProtocolSettings>;
  /** A scripted fault plan instead of (or besides) random faults. */
  readonly script?: (world: World) => void;
  /** Print a trace of faults and phases as they happen. */
  readonly trace?: boolean;
  /** How to replay this run, printed on failure; by default the SIM_SEED command line. */
  readonly replay?: string;
}

/** Work one run may do (queued steps): past it the run has run away (a livelock), and fails. */
const stepsMax = 20_000_000;

/** The simulated shell's timeouts: a peer request, a probe. */
const requestTimeoutMs = 800;
const probeTimeoutMs = 500;

export class World {
  readonly random: Random;
  private readonly faultRandom: Random;
  readonly queue = new EventQueue();
  now = 0;
  private steps = 0;
  readonly hosts: SimHost[];
  readonly limits: Limits;
  readonly settings: ProtocolSettings;
  readonly network: SimNetwork;
  private readonly workload: Workload;
  private readonly oracle: Oracle;
  private readonly stats = emptyStats();
  private faultsActive: boolean;
  private readonly chaosMs: number;
  private readonly keys: readonly string[];
  private readonly traceLines: string[] = [];
  private readonly traceToStdout: boolean;
  /** The shard map of a sharded run (undefined: one group of every replica). */
  readonly map: ShardMap | undefined;
  /** The replica groups: the hosts of each shard (one group of all hosts when not sharded). */
  readonly groups: readonly (readonly SimHost[])[];

  constructor(private readonly options: SimOptions) {
    this.random = new Random(options.seed);
    this.faultRandom = this.random.fork();
    const netRandom = this.random.fork();
    const clientRandom = this.random.fork();
    const r = this.random;
    const replicaCount = options.replicas ?? r.int(3, 5);
    const clientCount = options.clients ?? r.int(2, 5);
    this.chaosMs = options.chaosMs ?? r.int(6_000, 12_000);
    this.faultsActive = options.faults ?? true;
    this.traceToStdout = options.trace ?? false;
    const rates = {
      dropRate: this.faultsActive ? r.pick([0, 0.02, 0.1, 0.2]) : 0,
      dupRate: this.faultsActive ? r.pick([0, 0.05, 0.15]) : 0,
      longDelayRate: this.faultsActive ? r.pick([0, 0.03, 0.1]) : 0,
    };
    this.keys = Array.from({ length: r.pick([3, 8, 30]) }, (_, i) => `k${i}`);
    const readShare = r.pick([0.2, 0.45, 0.7]);
    const deleteShare = r.pick([0.1, 0.3]);
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
      retireAfterMs: r.pick([2000, 10_000]),
      ...options.settings,
    };
    const causalWaitMs = r.pick([0, 200, 1000]);
    const durable = options.shards === undefined ? (options.durable ?? r.chance(0.3)) : false;
    this.oracle = new Oracle(this.stats, (message) => this.fail(message), () => this.now, this.settings.writeAckTimeoutMs);
    this.network = new SimNetwork(this, netRandom, this.limits, { requestTimeoutMs, probeTimeoutMs }, this.stats, rates);
    const addresses = Array.from({ length: replicaCount }, (_, i) => `10.0.0.${i + 1}:8090` as Address);
    const map = options.shards === undefined ? undefined : initialShardMap(addresses, options.shards);
    this.map = map;
    const hostSettings = { view: addresses, limits: this.limits, settings: this.settings, causalWaitMs, requestTimeoutMs, probeTimeoutMs, durable };
    const diskRandom = this.random.fork();
    this.hosts = addresses.map((address, index) => {
      const shard = map === undefined ? undefined : shardOfNode(map, address)!;
      const settings = shard === undefined ? hostSettings : { ...hostSettings, view: membersOf(map!, shard), group: groupOfShard(map!, shard) };
      return new SimHost(index, address, this, this.network, settings, diskRandom);
    });
    this.groups = map === undefined ? [this.hosts] : map.shards.map((shard) => this.hosts.filter((host) => shard.members.includes(host.address)));
    this.workload = new Workload(this, clientRandom, { keys: this.keys, clockEntriesMax: this.limits.clockEntriesMax, readShare, deleteShare }, this.oracle, this.stats, clientCount);
    this.trace(
      `seed ${options.seed}: ${replicaCount} replicas${map === undefined ? '' : ` in ${map.shards.length} shards`}, ${clientCount} clients, chaos ${this.chaosMs} ms, drop ${rates.dropRate}, dup ${rates.dupRate}, ` +
        `long delays ${rates.longDelayRate}, hold-down ${this.settings.linkHoldDownMs} ms, logEventsMax ${this.settings.logEventsMax}, ` +
        `batch ${this.limits.pushBatchEventsMax}, chunk ${this.limits.snapshotChunkKeysMax}, pending ${this.limits.pendingEventsMax}, ` +
        `causal wait ${causalWaitMs} ms, ${durable ? 'DATA_DIR' : 'in memory'}, ${this.keys.length} keys, reads ${readShare}, deletes ${deleteShare}`,
    );
  }

  // ------------------------------------------------------------------ running

  run(): SimReport {
    for (const host of this.hosts) this.schedule(this.random.int(0, 300), () => this.start(host));
    this.workload.start(500);
    if (this.faultsActive) this.schedule(1000 + this.faultRandom.int(0, 1000), () => this.randomFault());
    this.options.script?.(this);
    this.runUntil(this.chaosMs);

    // Final phase: everything healed and alive, no more drops or duplicates, no new client work.
    this.trace('final phase: heal, restart the dead, no drops');
    this.faultsActive = false;
    this.workload.active = false;
    this.network.heal();
    for (const host of this.hosts) if (host.node === undefined) this.restart(host);
    const healedAt = this.now;
    const bound = this.settings.linkHoldDownMs + 15_000;
    while (!this.groups.every((group) => this.oracle.converged(group))) {
      if (this.now - healedAt > bound) this.fail(`no convergence within ${bound} ms after the heal:\n${this.describeAll()}`);
      this.runUntil(this.now + 100);
    }
    const convergedAfterMs = this.now - healedAt;
    this.trace(`converged ${convergedAfterMs} ms after the heal`);
    for (const group of this.groups) {
      this.oracle.checkFinalState(group, this.keys.filter((key) => this.hostsFor(key).includes(group[0]!)), this.workload.metadata());
    }
    // Quiescent compaction: after a few probe and compaction rounds every replica knows every
    // other has everything, so all events and all tombstones go, everywhere, and the views are
    // identical. Events that wait for an event lost with a crashed life go when the lives they
    // wait for are retired, a cascade of retirements at most, each some compaction rounds long.
    const rounds = this.settings.probeIntervalMs + this.settings.compactionIntervalMs;
    const quietUntil = this.now + 4 * rounds;
    const compactedBy = this.now + this.settings.retireAfterMs + 12 * rounds;
    while (this.now < quietUntil || (this.now < compactedBy && !this.groups.every((group) => this.oracle.compacted(group)))) this.runUntil(this.now + 100);
    for (const group of this.groups) this.oracle.checkCompacted(group, () => this.describeAll());
    for (const host of this.hosts) {
      const core = host.replica!;
      this.countLife(core);
      this.stats.livesRetired = Math.max(this.stats.livesRetired, core.retiredLives);
    }
    return { seed: this.options.seed, replicas: this.hosts.length, virtualMs: this.now, convergedAfterMs, ...this.stats };
  }

  runUntil(time: number): void {
    for (;;) {
      const next = this.queue.peekTime();
      if (next === undefined || next > time) break;
      if (++this.steps > stepsMax) this.fail(`ran away: over ${stepsMax} steps by virtual ${this.now} ms (a livelock?)\n${this.describeAll()}`);
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
    const replay = this.options.replay ?? `${chaos}SIM_SEED=${this.options.seed} node --import tsx test/simulation/simulation.test.ts`;
    throw new SimulationFailure(this.options.seed, this.now, message, this.traceLines, replay);
  }

  /** The hosts that serve `key`: its shard's members (every host when not sharded). */
  hostsFor(key: string): readonly SimHost[] {
    return this.map === undefined ? this.hosts : this.groups[shardOfKey(this.map, key) - 1]!;
  }

  /** For the network: the live node at an address. */
  receiverAt(address: Address): ReturnType<SimHost['receiver']> {
    return this.hosts.find((host) => host.address === address)?.receiver();
  }

  // ------------------------------------------------------------------ lives of replicas

  private start(host: SimHost): void {
    // Unique per address (the life count leads, at a fixed width), as a real start's would be.
    const incarnation = `${(host.lives + 1).toString(36).padStart(3, '0')}${this.random.int(0, 36 ** 3 - 1).toString(36).padStart(3, '0')}`;
    const node = host.start(
      incarnation,
      (node, events) => {
        if (host.node === node) this.oracle.delivered(host, node.core, events);
      },
      (node) => {
        if (host.node === node) this.oracle.snapshotInstalled(node.core);
      },
    );
    this.trace(`${host.address} starts as ${node.core.id}${host.lives > 1 && host.disk !== undefined ? ` from its DATA_DIR at ${JSON.stringify(node.core.clock)}` : ''}`);
    if (host.disk !== undefined && host.lives > 1) {
      this.stats.restartsFromDisk++;
      this.oracle.restartedFromDisk(node.core, this.hosts);
    }
  }

  restart(host: SimHost): void {
    if (host.node === undefined) this.start(host);
  }

  /** Adds a life's counters to the run's, once: when it crashes, or at the end for the lives still running. */
  private countLife(core: Replica): void {
    this.stats.compactedEvents += core.compactedEvents;
    this.stats.tombstonesCollected += core.tombstonesCollected;
    this.stats.rewrittenAfterCatchUp += core.rewrittenAfterCatchUp;
    if (core.joinState?.kind === 'joined' && core.joinState.how === 'snapshot') this.stats.joinsBySnapshot++;
  }

  kill(host: SimHost): void {
    const replica = host.replica;
    if (replica === undefined) return;
    this.stats.crashes++;
    this.oracle.crashed(replica);
    this.countLife(replica);
    this.trace(`${host.address} (${replica.id}) crashes`);
    host.crash();
  }

  /** Cuts every link between `group` and the rest (or `others`) for `durationMs`. */
  partition(group: readonly SimHost[], durationMs: number, others: readonly SimHost[] = this.hosts.filter((host) => !group.includes(host))): void {
    const label = `{${group.map((host) => host.index).join(',')}} | {${others.map((host) => host.index).join(',')}}`;
    this.network.partition(
      group.map((host) => host.address),
      others.map((host) => host.address),
      durationMs,
      label,
    );
  }

  private randomFault(): void {
    if (!this.faultsActive) return;
    const r = this.faultRandom;
    const n = this.hosts.length;
    const dead = this.hosts.filter((host) => host.node === undefined).length;
    const roll = r.next();
    if (roll < 0.35) {
      this.partition([r.pick(this.hosts)], r.int(300, 4000));
    } else if (roll < 0.5) {
      // Long enough to leave the others' views and be compacted past: it will need a snapshot.
      this.partition([r.pick(this.hosts)], r.int(6000, 10_000));
    } else if (roll < 0.65) {
      const shuffled = r.shuffle(this.hosts);
      this.partition(shuffled.slice(0, r.int(1, n - 1)), r.int(500, 5000));
    } else if (roll < 0.75) {
      const [a, b] = r.shuffle(this.hosts);
      this.partition([a!], r.int(500, 5000), [b!]);
    } else if (roll < 0.9 && dead === 0) {
      const victim = r.pick(this.hosts);
      this.kill(victim);
      this.schedule(this.now + r.int(200, 6000), () => {
        if (this.faultsActive) this.restart(victim);
      });
    }
    this.schedule(this.now + r.int(500, 2500), () => this.randomFault());
  }

  // ------------------------------------------------------------------ inspection

  get snapshotsTo(): ReadonlyMap<Address, number> {
    return this.network.snapshotsTo;
  }

  describeAll(): string {
    return this.hosts
      .map((host) => {
        const replica = host.replica;
        if (replica === undefined) return `  ${host.address}: down`;
        const d = replica.describe(this.now);
        return (
          `  ${host.address} ${d.id} joined=${replica.joined} clock=${JSON.stringify(d.clock)} view=${d.view.join(',')} pending=${d.pendingEvents} log=${d.logLength} retired=${JSON.stringify(d.retiredLives)}\n` +
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

  nodeAt(index: number): SimHost {
    return this.hosts[index]!;
  }

  get nodes(): readonly SimHost[] {
    return this.hosts;
  }
}
