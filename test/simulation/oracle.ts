// The checker: it learns every event a client write made, watches every delivery through the
// storage seam, checks every answer a client gets, and the final state once the faults are over.
import { groupOf, type ReplicaId } from '../../events/ids.ts';
import { eventId, type KvEvent } from '../../events/kv-event.ts';
import { clockCovers, compareClocks, emptyClock, mergeClocks, type VectorClock } from '../../events/vector-clock.ts';
import { compareEvents } from '../../src/core/conflict-order.ts';
import { viewEntries } from '../../src/core/kv-view.ts';
import type { ReadResult, Replica } from '../../src/core/replica.ts';
import type { SimHost } from './host.ts';
import type { SimStats } from './report.ts';

export type AckReason = 'replicated' | 'no-peer' | 'timeout';

export class Oracle {
  /** Every event ever made, by id. */
  private readonly registry = new Map<string, KvEvent>();
  private readonly eventsByKey = new Map<string, KvEvent[]>();
  /** Replica ids of lives that crashed: only their events may be lost. */
  readonly crashedIds = new Set<string>();
  /** What each crashed life held (delivered, in custody for a peer, or waiting for its causal past): what died with it. */
  private readonly crashedHoldings: { readonly upTo: VectorClock; readonly waiting: ReadonlySet<string> }[] = [];
  /** Why each acknowledged write was answered. */
  private readonly ackReasons = new Map<string, AckReason>();
  /**
   * Per life, the highest seq of its events some other life's clock was seen to cover (when it
   * delivered a batch or installed a snapshot): its writes that reached beyond their own life.
   */
  private readonly heldElsewhereUpTo = new Map<ReplicaId, number>();
  /** When each event was made (delivered where it was written). */
  private readonly madeAt = new Map<string, number>();
  /**
   * Each acknowledged write's causal past, tracked here apart from the store's metadata: its
   * writer's past (what that client wrote and read before, transitively) and everything its
   * replica had delivered (event.clock). A store that dropped a dependency from the metadata it
   * hands out (across shards: the entries it should hand on) is caught by reads checked against
   * this, not against the metadata.
   */
  private readonly pasts = new Map<string, VectorClock>();
  /** The last delivered clock seen of each life: it may only grow. */
  private readonly lastClocks = new WeakMap<Replica, VectorClock>();

  constructor(
    private readonly stats: SimStats,
    private readonly fail: (message: string) => never,
    private readonly now: () => number,
    private readonly writeAckTimeoutMs: number,
  ) {}

  /**
   * A batch a replica delivered, as its storage sees it. Its own writes are learnt here (they are
   * delivered where they are made before anything else sees them); everything else must be an
   * event some client wrote, unaltered, and the replica's clock covers it and never went back.
   */
  delivered(host: SimHost, replica: Replica, events: readonly KvEvent[]): void {
    const clock = replica.clock;
    const last = this.lastClocks.get(replica);
    if (last !== undefined && !replica.covers(last)) this.fail(`${host.address}'s delivered clock went back from ${JSON.stringify(last)} to ${JSON.stringify(clock)}`);
    this.lastClocks.set(replica, clock);
    this.noteHeld(replica);
    for (const event of events) {
      if (!replica.covers(event.clock)) this.fail(`${host.address} delivered ${eventId(event)} past its delivered clock`);
      if (event.origin === replica.id && !this.registry.has(eventId(event))) this.register(event);
      const original = this.registry.get(eventId(event));
      if (original === undefined) this.fail(`${host.address} delivered ${eventId(event)}, which no client wrote`);
      if (original !== event && JSON.stringify(original) !== JSON.stringify(event)) {
        this.fail(`${host.address} delivered ${eventId(event)} altered: ${JSON.stringify(event)} vs ${JSON.stringify(original)}`);
      }
      this.stats.deliveries++;
    }
  }

  /** A replica installed a snapshot: the events it brought are held there too. */
  snapshotInstalled(replica: Replica): void {
    this.noteHeld(replica);
  }

  /** What the replica's clock covers of other lives' events (retired lives are gone from it: nothing to note of them). */
  private noteHeld(replica: Replica): void {
    for (const id in replica.clock) {
      if (id === replica.id) continue;
      const seq = replica.clock[id as ReplicaId]!;
      if (seq > (this.heldElsewhereUpTo.get(id as ReplicaId) ?? 0)) this.heldElsewhereUpTo.set(id as ReplicaId, seq);
    }
  }

  private register(event: KvEvent): void {
    this.registry.set(eventId(event), event);
    this.madeAt.set(eventId(event), this.now());
    let list = this.eventsByKey.get(event.key);
    if (list === undefined) this.eventsByKey.set(event.key, (list = []));
    list.push(event);
  }

  crashed(replica: Replica): void {
    this.noteHeld(replica);
    this.crashedIds.add(replica.id);
    this.crashedHoldings.push({ upTo: mergeClocks(replica.clock, replica.custodyHeld()), waiting: new Set(pendingEvents(replica).map(eventId)) });
  }

  /**
   * A write was answered. The rule it was answered by: another replica holds it, or no other
   * replica is in the view, or the acknowledgement timeout passed. Anything earlier is a bug.
   */
  /**
   * A life came back from its DATA_DIR holding its own events up to the seq it restarted with. The
   * ones after it died unstored: never acknowledged, never sent anywhere (a live replica holding
   * one would be a broken rule), and their seqs will be made again, so they are forgotten.
   */
  restartedFromDisk(replica: Replica, hosts: readonly SimHost[]): void {
    const kept = replica.clock[replica.id] ?? 0;
    for (const [id, event] of this.registry) {
      if (event.origin !== replica.id || event.seq <= kept) continue;
      if (this.ackReasons.has(id)) this.fail(`${id} was acknowledged, but its replica restarted from its DATA_DIR without it`);
      for (const host of hosts) {
        if (host.replica !== undefined && host.replica !== replica && this.has(host.replica, event)) {
          this.fail(`${host.address} holds ${id}, which its origin had not stored when it crashed`);
        }
      }
      this.registry.delete(id);
      const list = this.eventsByKey.get(event.key)!;
      list.splice(list.indexOf(event), 1);
    }
  }

  acknowledged(event: KvEvent, reason: AckReason): void {
    const waitedMs = this.now() - (this.madeAt.get(eventId(event)) ?? Number.NaN);
    if (reason === 'timeout' && !(waitedMs >= this.writeAckTimeoutMs)) {
      this.fail(`${eventId(event)} was acknowledged after ${waitedMs} ms, before any other replica held it and before the ${this.writeAckTimeoutMs} ms timeout`);
    }
    this.ackReasons.set(eventId(event), reason);
  }

  /** A write was answered to a client whose causal past was `writerPast`: the write's own past. */
  madeWithPast(event: KvEvent, writerPast: VectorClock): VectorClock {
    const past = mergeClocks(mergeClocks(writerPast, event.clock), { [event.origin]: event.seq } as VectorClock);
    this.pasts.set(eventId(event), past);
    return past;
  }

  /** What reading `event` adds to a client's causal past (only the event itself when no client was answered its write). */
  pastOf(event: KvEvent): VectorClock {
    return this.pasts.get(eventId(event)) ?? mergeClocks(event.clock, { [event.origin]: event.seq } as VectorClock);
  }

  /** The winner the fold of every event this replica has delivered would show for `key`. */
  private expectedWinner(replica: Replica, key: string): KvEvent | undefined {
    let best: KvEvent | undefined;
    for (const event of this.eventsByKey.get(key) ?? []) {
      if (!this.has(replica, event)) continue;
      if (best === undefined || compareEvents(event, best) > 0) best = event;
    }
    return best;
  }

  /**
   * Read-your-writes and monotonic reads: the version read is not older than any write to the key
   * in the client's causal past (`past`, tracked by the oracle) or that its metadata covers (its
   * own writes, and whatever it read before, transitively, across shards). And the read equals the
   * fold of the events the replica has delivered.
   */
  checkRead(host: SimHost, replica: Replica, key: string, metadata: VectorClock, read: ReadResult, past: VectorClock): void {
    const seen = (this.eventsByKey.get(key) ?? []).filter((event) => Math.max(metadata[event.origin] ?? 0, past[event.origin] ?? 0) >= event.seq);
    let latestSeen: KvEvent | undefined;
    for (const event of seen) if (latestSeen === undefined || compareEvents(event, latestSeen) > 0) latestSeen = event;
    const found = read.found;
    if (found !== undefined) {
      if (this.registry.get(eventId(found)) !== found && JSON.stringify(this.registry.get(eventId(found))) !== JSON.stringify(found)) {
        this.fail(`${host.address} read ${key} = ${JSON.stringify(found)}, which no client wrote`);
      }
      for (const event of seen) {
        if (compareEvents(found, event) < 0) {
          this.fail(
            `${host.address} read ${key} as ${eventId(found)} although the client's causal past holds the later ${event.type} ${eventId(event)} ` +
              `(${compareClocks(found.clock, event.clock) === 'before' ? 'causally older: read-your-writes / monotonic reads broken' : 'loses the conflict order'})`,
          );
        }
      }
      if (!replica.coversWithRetired(read.metadata, found.clock)) this.fail(`read metadata does not cover the version read (${eventId(found)})`);
    } else if (latestSeen?.type === 'put') {
      const superseded = (this.eventsByKey.get(key) ?? []).some(
        (event) => event.type === 'delete' && replica.covers(event.clock) && compareEvents(event, latestSeen) > 0,
      );
      if (!superseded) this.fail(`${host.address} read ${key} as not found, but the client has seen ${eventId(latestSeen)} and no later delete is delivered there`);
    }
    if (!replica.coversWithRetired(read.metadata, metadata)) this.fail('read metadata does not cover the metadata sent');
    const expected = this.expectedWinner(replica, key);
    const expectedFound = expected?.type === 'put' ? expected : undefined;
    if (idOf(expectedFound) !== idOf(found)) {
      this.fail(
        `${host.address} read ${key} as ${found ? eventId(found) : 'not found'}, but the fold of its delivered events gives ` +
          `${expected ? `${expected.type} ${eventId(expected)}` : 'nothing'}`,
      );
    }
  }

  /**
   * Sharded runs: what a replica hands a client covers every entry of other groups the client sent,
   * unchanged (it passes them on, never waits for them): causality across shards rides on them.
   */
  checkHandsOn(replica: Replica, sent: VectorClock, handed: VectorClock, what: string): void {
    for (const id in sent) {
      if (groupOf(id as ReplicaId) === replica.group) continue;
      if ((handed[id as ReplicaId] ?? 0) < sent[id as ReplicaId]!) this.fail(`${what} at ${replica.id} dropped the other group's ${id}#${sent[id as ReplicaId]} from the metadata`);
    }
  }

  /** A client whose past includes a write no live replica holds can never be served again. */
  lostPast(metadata: VectorClock, hosts: readonly SimHost[]): string | undefined {
    for (const id in metadata) {
      if (!this.crashedIds.has(id)) continue;
      const seq = metadata[id as ReplicaId]!;
      if (!hosts.some((host) => host.replica !== undefined && holds(host.replica, id as ReplicaId, seq))) return `${id}#${seq}`;
    }
    return undefined;
  }

  /**
   * Waiting events that could still be delivered. An orphan (its causal past includes a write no
   * live replica holds: lives holding it crashed, beyond what the store tolerates) can never be,
   * and is not a failure to converge.
   */
  pendingBesidesOrphans(replica: Replica, hosts: readonly SimHost[]): number {
    if (replica.pendingSize === 0) return 0;
    const held: Record<string, number> = {};
    for (const host of hosts) {
      for (const [id, seq] of Object.entries(host.replica?.clock ?? {})) held[id] = Math.max(held[id] ?? 0, seq);
    }
    const waiting = pendingEvents(replica);
    return waiting.filter((event) => Object.entries(event.clock).every(([id, seq]) => (held[id] ?? 0) >= (id === event.origin ? seq - 1 : seq))).length;
  }

  /**
   * The replica has delivered `event`, as far as its clock tells. Once the event's life is retired
   * there (an address's later life was retired), its entry is gone from the clock and every seq of
   * it counts as covered; the event is then held only if another life's clock was seen to cover it.
   * A write that only its own life ever held died with that life, retired or not (seed 30957 of
   * the sharded runs: a write made 93 ms before its life crashed, never sent, was expected).
   */
  private has(replica: Replica, event: KvEvent): boolean {
    if (!holds(replica, event.origin, event.seq)) return false;
    return clockCovers(replica.clock, { [event.origin]: event.seq } as VectorClock) || (this.heldElsewhereUpTo.get(event.origin) ?? 0) >= event.seq;
  }

  private isPending(replica: Replica, event: KvEvent): boolean {
    return pendingOf(replica).get(event.origin)?.has(event.seq) === true;
  }

  /** All alive and joined, same clock, same readable contents, same view, nothing deliverable pending. */
  converged(hosts: readonly SimHost[]): boolean {
    const first = hosts[0]!.replica;
    if (first === undefined) return false;
    const contents = JSON.stringify(readable(first));
    const view = first.view().join(',');
    const all = hosts.map((host) => host.address).sort().join(',');
    for (const host of hosts) {
      const replica = host.replica;
      if (replica === undefined || !replica.joined || this.pendingBesidesOrphans(replica, hosts) > 0) return false;
      // Writes kept in custody for a peer are applied when its new life announces itself: not yet converged.
      if (!clockCovers(replica.clock, replica.custodyHeld())) return false;
      if (compareClocks(replica.clock, first.clock) !== 'equal') return false;
      if (replica.view().join(',') !== view || [...replica.view()].sort().join(',') !== all) return false;
      if (JSON.stringify(readable(replica)) !== contents) return false;
    }
    return true;
  }

  checkFinalState(hosts: readonly SimHost[], keys: readonly string[], clientMetadata: readonly VectorClock[]): void {
    const replica = hosts[0]!.replica!;
    const clock = replica.clock;
    for (const key of keys) {
      const expected = this.expectedWinner(replica, key);
      for (const host of hosts) {
        const found = host.replica!.read(key, emptyClock).found;
        if (idOf(found) !== idOf(expected?.type === 'put' ? expected : undefined)) {
          this.fail(`after convergence ${host.address} reads ${key} as ${found ? eventId(found) : 'not found'}, expected ${expected ? eventId(expected) : 'nothing'}`);
        }
      }
    }
    // Only the writes of a life that crashed may be lost; and a write acknowledged once a peer
    // held it is only lost if at least two lives that held it crashed.
    for (const event of this.registry.values()) {
      if (groupOf(event.origin) !== replica.group || this.has(replica, event)) continue;
      if (!this.crashedIds.has(event.origin)) this.fail(`${eventId(event)} was lost although its replica never crashed`);
      const reason = this.ackReasons.get(eventId(event));
      if (reason === undefined) continue;
      this.stats.ackedWritesLost++;
      const holders = this.crashedHoldings.filter((held) => (held.upTo[event.origin] ?? 0) >= event.seq || held.waiting.has(eventId(event))).length;
      // A write held elsewhere only in custody (its origin's own events travel alone there) is
      // still lost if its causal past died with two crashed lives: it can never be delivered.
      const pastLost = Object.entries(event.clock).some(([id, seq]) => id !== event.origin && !replica.covers({ [id]: seq }) && this.crashedIds.has(id));
      if (reason === 'replicated' && holders < 2 && !pastLost) {
        const pendingAt = hosts.filter((host) => this.isPending(host.replica!, event)).map((host) => host.address);
        const missing = Object.entries(event.clock).filter(([id, seq]) => id !== event.origin && !replica.covers({ [id]: seq }));
        this.fail(
          `${eventId(event)} was acknowledged once a peer held it, yet lost when only ${holders} of the lives holding it crashed ` +
            `(waiting undeliverable at [${pendingAt.join(', ')}]; its causal past lacks ${JSON.stringify(Object.fromEntries(missing))})`,
        );
      }
    }
    clientMetadata.forEach((metadata, index) => {
      for (const id in metadata) {
        const seq = metadata[id as ReplicaId]!;
        if (groupOf(id as ReplicaId) !== replica.group) continue;
        if (!replica.covers({ [id]: seq }) && !this.crashedIds.has(id)) this.fail(`client ${index} has seen ${id}#${seq}, which no replica has after convergence`);
      }
    });
  }

  /** Every replica's log is empty, and so are its tombstones and the events it holds waiting. */
  compacted(hosts: readonly SimHost[]): boolean {
    return hosts.every((host) => {
      const described = host.replica!.describe(0);
      return described.logLength === 0 && described.tombstones === 0 && described.pendingEvents === 0;
    });
  }

  checkCompacted(hosts: readonly SimHost[], describeAll: () => string): void {
    const entries = JSON.stringify(allEntries(hosts[0]!.replica!));
    for (const host of hosts) {
      const described = host.replica!.describe(0);
      // An event waits only for events that exist; one that waits for a lost event goes once the lives it needs are retired.
      if (described.pendingEvents !== 0) this.fail(`${host.address} still holds ${described.pendingEvents} events waiting for their causal past after quiescent compaction:\n${describeAll()}`);
      if (described.logLength !== 0) this.fail(`${host.address} still holds ${described.logLength} events after quiescent compaction:\n${describeAll()}`);
      if (described.tombstones !== 0) this.fail(`${host.address} still holds ${described.tombstones} tombstones after quiescent compaction:\n${describeAll()}`);
      if (JSON.stringify(allEntries(host.replica!)) !== entries) this.fail(`view contents differ after compaction:\n${describeAll()}`);
    }
  }
}

/** The replica's pending buffer, by origin and seq (read from inside: the oracle sees what the store keeps private). */
function pendingOf(replica: Replica): ReadonlyMap<string, ReadonlyMap<number, KvEvent>> {
  return (replica as unknown as { pending: { byOrigin: Map<string, Map<number, KvEvent>> } }).pending.byOrigin;
}

/** The events the replica holds waiting for their causal past. */
function pendingEvents(replica: Replica): KvEvent[] {
  return [...pendingOf(replica).values()].flatMap((seqs) => [...seqs.values()]);
}

/** The replica has delivered event `seq` of life `id`: only a replica of that life's group can (covers() passes other groups' entries). */
function holds(replica: Replica, id: ReplicaId, seq: number): boolean {
  return groupOf(id) === replica.group && replica.covers({ [id]: seq });
}

function idOf(event: KvEvent | undefined): string | undefined {
  return event === undefined ? undefined : eventId(event);
}

export function readable(replica: Replica): Record<string, string> {
  const out: Record<string, string> = {};
  for (const event of [...viewEntries(replica.viewSnapshot())].sort((a, b) => (a.key < b.key ? -1 : 1))) {
    if (event.type === 'put') out[event.key] = eventId(event);
  }
  return out;
}

function allEntries(replica: Replica): string[] {
  return [...viewEntries(replica.viewSnapshot())].map((event) => `${event.key}=${event.type}:${eventId(event)}`).sort();
}
