// One replica address of the simulated cluster and its lives: each life is the production
// ReplicaNode, given a virtual clock, virtual timers, the simulated network and a storage that
// reports every delivery to the oracle. A crash ends the life at once: its timers never fire, its
// replies and its answers to clients are lost.
import type { Address } from '../../events/ids.ts';
import type { KvEvent } from '../../events/kv-event.ts';
import type { Limits } from '../../events/limits.ts';
import type { PeerMessage } from '../../events/peer-rpc.ts';
import type { VectorClock } from '../../events/vector-clock.ts';
import type { ProtocolSettings } from '../../src/core/protocol-settings.ts';
import type { Replica } from '../../src/core/replica.ts';
import type { NodeConfig } from '../../src/node/node-config.ts';
import { createLogger } from '../../src/node/logger.ts';
import { ReplicaNode } from '../../src/node/replica-node.ts';
import type { Storage } from '../../src/node/storage.ts';
import type { Timers } from '../../src/node/timers.ts';
import type { Random } from '../support/random.ts';
import type { SimNetwork, SimReceiver } from './network.ts';
import { SimDisk } from './sim-storage.ts';

/** What a host needs of the world around it. */
export interface HostWorld {
  readonly now: number;
  schedule(at: number, run: () => void): void;
}

export interface HostSettings {
  readonly view: readonly Address[];
  readonly limits: Limits;
  readonly settings: ProtocolSettings;
  readonly causalWaitMs: number;
  readonly requestTimeoutMs: number;
  readonly probeTimeoutMs: number;
  /** Every address keeps a DATA_DIR: a restart comes back with its data and its incarnation. */
  readonly durable: boolean;
  /** The replica group's tag in a sharded run (events/ids.ts): every life's incarnation carries it. */
  readonly group?: string;
}

const silent = createLogger('silent', 'sim');

export class SimHost {
  node: ReplicaNode | undefined;
  /** Grows with every start and every crash: callbacks of an ended life check it and fall silent. */
  generation = 0;
  lives = 0;
  /** The address's DATA_DIR, when the run keeps one. */
  readonly disk: SimDisk | undefined;

  constructor(
    readonly index: number,
    readonly address: Address,
    private readonly world: HostWorld,
    private readonly network: SimNetwork,
    private readonly hostSettings: HostSettings,
    private readonly random: Random,
  ) {
    this.disk = hostSettings.durable ? new SimDisk() : undefined;
  }

  /** The core of the live node, or undefined while down. */
  get replica(): Replica | undefined {
    return this.node?.core;
  }

  /**
   * Starts a process: a new life with `incarnation`, or, with a DATA_DIR that holds one, the same
   * life again from what its disk kept. `onDelivered` sees every batch it delivers (the storage seam),
   * `onSnapshotInstalled` every snapshot it installs (whose events reach it without passing the seam).
   */
  start(
    incarnation: string,
    onDelivered: (node: ReplicaNode, events: readonly KvEvent[]) => void,
    onSnapshotInstalled: (node: ReplicaNode) => void = () => {},
  ): ReplicaNode {
    if (this.node !== undefined) throw new Error(`${this.address} is already running`);
    const generation = ++this.generation;
    this.lives++;
    const alive = () => this.generation === generation;
    const world = this.world;
    const timers: Timers = {
      after: (delayMs, run) => {
        let cancelled = false;
        world.schedule(world.now + delayMs, () => !cancelled && alive() && run());
        return { cancel: () => (cancelled = true) };
      },
      soon: (run) => world.schedule(world.now, () => alive() && run()),
    };
    const { view, limits, settings, causalWaitMs } = this.hostSettings;
    const config: NodeConfig = { socketAddress: this.address, view, causalWaitMs, limits, settings };
    let node: ReplicaNode | undefined;
    const disk = this.disk;
    const kept: Storage | undefined = disk?.storageFor((delayMs, run) => world.schedule(world.now + delayMs, run), this.random, alive);
    const storage: Storage = {
      unavailable: undefined,
      append: (events) => {
        kept?.append(events);
        if (node !== undefined) onDelivered(node, events);
      },
      flush: (done) => (kept === undefined ? done(undefined) : kept.flush(done)),
      wantsSnapshot: () => kept?.wantsSnapshot() ?? false,
      snapshot: (snapshot) => kept?.snapshot(snapshot),
      close: () => {},
    };
    const group = this.hostSettings.group;
    const life = disk?.incarnation ?? (group === undefined ? incarnation : `${incarnation}-${group}`);
    if (disk !== undefined) disk.incarnation = life;
    node = new ReplicaNode({
      config,
      incarnation: life,
      boot: `${this.lives.toString(36)}`,
      ...(disk === undefined ? {} : { restored: disk.recover() }),
      clock: { now: () => world.now },
      timers,
      transport: this.network.transportFor(this.address, alive),
      storage,
      log: silent,
    });
    const installed = node.core.onSnapshotInstalled;
    node.core.onSnapshotInstalled = () => {
      installed?.();
      onSnapshotInstalled(node!);
    };
    this.node = node;
    node.start();
    return node;
  }

  /** Ends the life at once, as kill -9 would: nothing it had in flight is answered. */
  crash(): ReplicaNode | undefined {
    const node = this.node;
    if (node === undefined) return undefined;
    this.generation++;
    this.node = undefined;
    node.stop();
    return node;
  }

  /**
   * The receiving side, for the network: undefined while down. A push is answered as production
   * answers it (ReplicaNode.receive: late, once storage holds what it delivered); a life that ends
   * first never answers it.
   */
  receiver(): SimReceiver | undefined {
    const node = this.node;
    if (node === undefined) return undefined;
    return {
      handle: (message, answer) => (message.rpc === 'push' ? node.receive(message.request, answer) : answer(node.handle(message))),
      covers: (clock) => node.core.covers(clock),
    };
  }
}
