// Clients of the simulated cluster: each carries its causal metadata from answer to answer, as a
// real client does, and sends gets, puts and deletes to one home replica or to any.
import { formatCausalMetadata, parseCausalMetadata } from '../../events/causal-metadata.ts';
import { groupOf, type ReplicaId } from '../../events/ids.ts';
import { eventId } from '../../events/kv-event.ts';
import { emptyClock, mergeClocks, type VectorClock } from '../../events/vector-clock.ts';
import type { Random } from '../support/random.ts';
import type { SimHost } from './host.ts';
import type { Oracle } from './oracle.ts';
import type { SimStats } from './report.ts';

export interface WorkloadShape {
  readonly keys: readonly string[];
  /** The bound on metadata entries the replicas enforce (CLOCK_ENTRIES_MAX). */
  readonly clockEntriesMax: number;
  /** Shares of the operations that are reads and (of the rest) deletes; the others are puts. */
  readonly readShare: number;
  readonly deleteShare: number;
}

interface Client {
  readonly index: number;
  metadata: VectorClock;
  /** The client's causal past as the oracle tracks it, apart from the metadata the store hands out (Oracle.pastOf). */
  past: VectorClock;
  home: number;
  readonly sticky: boolean;
  /** Since when every attempt was refused (503 or unreachable); undefined when the last one was served. */
  refusedSince: number | undefined;
  nextValue: number;
}

type ClientOp = { readonly type: 'get'; readonly key: string } | { readonly type: 'put'; readonly key: string; readonly value: string } | { readonly type: 'delete'; readonly key: string };

type ClientAnswer =
  | { readonly status: 'served' | 'not-found'; readonly metadata: VectorClock; /** What the answer adds to the client's causal past. */ readonly past: VectorClock }
  | { readonly status: 'unavailable' };

/** How long a client is refused before it checks whether its past died with a crashed replica. */
const clientGiveUpMs = 20_000;

/** What the workload needs of the world around it. */
export interface WorkloadWorld {
  readonly now: number;
  readonly hosts: readonly SimHost[];
  /** The hosts that serve `key` (its shard's, in a sharded run): a client sends the key to one of them, as forwarding would. */
  hostsFor(key: string): readonly SimHost[];
  schedule(at: number, run: () => void): void;
  trace(line: string): void;
  fail(message: string): never;
}

export class Workload {
  active = true;
  private readonly clients: Client[];

  constructor(
    private readonly world: WorkloadWorld,
    private readonly random: Random,
    private readonly shape: WorkloadShape,
    private readonly oracle: Oracle,
    private readonly stats: SimStats,
    clientCount: number,
  ) {
    this.clients = Array.from({ length: clientCount }, (_, index) => ({
      index,
      metadata: emptyClock,
      past: emptyClock,
      home: random.int(0, world.hosts.length - 1),
      sticky: random.chance(0.5),
      refusedSince: undefined,
      nextValue: 0,
    }));
  }

  start(at: number): void {
    for (const client of this.clients) this.world.schedule(at + this.random.int(0, 200), () => this.tick(client));
  }

  metadata(): VectorClock[] {
    return this.clients.map((client) => client.metadata);
  }

  private tick(client: Client): void {
    if (!this.active) return;
    const r = this.random;
    const { keys, readShare, deleteShare } = this.shape;
    const key = r.pick(keys);
    const roll = r.next();
    const op: ClientOp =
      roll < readShare
        ? { type: 'get', key }
        : roll < readShare + (1 - readShare) * deleteShare
          ? { type: 'delete', key }
          : { type: 'put', key, value: `c${client.index}v${++client.nextValue}` };
    const serving = this.world.hostsFor(key);
    const host = client.sticky ? serving[client.home % serving.length]! : r.pick(serving);
    const sent = client.metadata;
    // Metadata travels as the API's JSON token, through the same codec the HTTP routes use.
    const token = JSON.stringify(formatCausalMetadata(sent));
    this.world.schedule(this.world.now + r.int(1, 15), () =>
      this.send(host, op, parseCausalMetadata(JSON.parse(token), this.shape.clockEntriesMax), client.past, (answer) => this.world.schedule(this.world.now + r.int(1, 15), () => this.answered(client, op, sent, answer))),
    );
  }

  /** One request to the production node, as its HTTP routes make it; no answer if the node dies meanwhile (the connection breaks). */
  private send(host: SimHost, op: ClientOp, metadata: VectorClock, past: VectorClock, answer: (answer: ClientAnswer) => void): void {
    const node = host.node;
    if (node === undefined) return answer({ status: 'unavailable' });
    const generation = host.generation;
    const alive = () => host.generation === generation;
    if (op.type === 'get') {
      node.read(op.key, metadata, (result) => {
        if (!alive()) return answer({ status: 'unavailable' });
        if (!result.ok) return answer({ status: 'unavailable' });
        this.oracle.checkRead(host, node.core, op.key, metadata, result.value, past);
        this.oracle.checkHandsOn(node.core, metadata, result.value.metadata, `a read of ${op.key}`);
        this.stats.reads++;
        if (node.core.group !== '' && Object.keys(metadata).some((id) => groupOf(id as ReplicaId) !== node.core.group)) this.stats.crossShardReads++;
        const { found } = result.value;
        answer({ status: found === undefined ? 'not-found' : 'served', metadata: result.value.metadata, past: found === undefined ? emptyClock : this.oracle.pastOf(found) });
      });
      return;
    }
    node.write(op.key, op.type === 'put' ? op.value : undefined, metadata, (result) => {
      if (!alive() || !result.ok) return answer({ status: 'unavailable' });
      if (result.value === undefined) {
        const after = node.core.read(op.key, metadata).metadata;
        if (!node.core.coversWithRetired(after, metadata)) this.world.fail(`a delete of ${op.key} answered metadata that does not cover the metadata sent`);
        this.oracle.checkHandsOn(node.core, metadata, after, `a delete of ${op.key}`);
        return answer({ status: 'not-found', metadata: after, past: emptyClock });
      }
      const { event, metadata: handed } = result.value;
      this.stats.writes++;
      if (!node.core.coversWithRetired(handed, metadata)) this.world.fail(`write ${eventId(event)} does not cover the client's metadata`);
      this.oracle.checkHandsOn(node.core, metadata, handed, `write ${eventId(event)}`);
      const core = node.core;
      this.oracle.acknowledged(event, core.isReplicated(event) ? 'replicated' : core.hasPeerInView() ? 'timeout' : 'no-peer');
      answer({ status: 'served', metadata: handed, past: this.oracle.madeWithPast(event, past) });
    });
  }

  private answered(client: Client, op: ClientOp, sent: VectorClock, answer: ClientAnswer): void {
    if (answer.status === 'unavailable') {
      this.stats.unavailable++;
      client.refusedSince ??= this.world.now;
      if (this.random.chance(0.5)) client.home = this.random.int(0, this.world.hosts.length - 1);
      if (this.world.now - client.refusedSince > clientGiveUpMs) this.maybeAbandonSession(client);
    } else {
      client.refusedSince = undefined;
      client.past = mergeClocks(client.past, answer.past);
      client.metadata = parseCausalMetadata(JSON.parse(JSON.stringify(formatCausalMetadata(answer.metadata))), this.shape.clockEntriesMax);
    }
    this.world.schedule(this.world.now + this.random.int(20, 300), () => this.tick(client));
  }

  /** A client whose past includes a write that died with its replica can never be served again: it starts over. */
  private maybeAbandonSession(client: Client): void {
    const lost = this.oracle.lostPast(client.metadata, this.world.hosts);
    if (lost === undefined) return;
    this.world.trace(`client ${client.index} starts a new session: its past includes ${lost}, lost in a crash`);
    this.stats.sessionsLost++;
    client.metadata = emptyClock;
    client.past = emptyClock;
    client.refusedSince = undefined;
  }
}
