import { addressOf, type Address, type ReplicaId } from '../../events/ids.ts';
import type { RetiredRecord } from '../../events/peer-messages.ts';

/**
 * The lives of replicas that ended and whose clock entries were retired: every event of such a
 * life is delivered everywhere, so its entry counts as satisfied in every dependency check and
 * leaves every clock this store hands out. Bounded: per address only the latest retired life and
 * its final seq is kept; an older life at the same address is retired too (lives at one address
 * follow each other: incarnations grow), at a final seq no longer known, and whatever of it a
 * client's old metadata names is satisfied.
 */
export class RetiredLives {
  private readonly byAddress = new Map<Address, { readonly incarnation: string; readonly seq: number }>();
  private record: RetiredRecord | undefined;

  constructor(private readonly addressesMax: number) {}

  get size(): number {
    return this.byAddress.size;
  }

  /** The final seq of `id` when it is the latest life retired at its address; Infinity for an older one; undefined when not retired. */
  finalSeq(id: ReplicaId): number | undefined {
    const slash = id.lastIndexOf('/');
    const retired = this.byAddress.get(id.slice(0, slash) as Address);
    if (retired === undefined) return undefined;
    const order = compareIncarnations(id.slice(slash + 1), retired.incarnation);
    if (order === 0) return retired.seq;
    return order < 0 ? Number.POSITIVE_INFINITY : undefined;
  }

  /** An entry `id: seq` of some clock is satisfied by retirement. */
  satisfies(id: ReplicaId, seq: number): boolean {
    const final = this.finalSeq(id);
    return final !== undefined && seq <= final;
  }

  isRetired(id: ReplicaId): boolean {
    return this.finalSeq(id) !== undefined;
  }

  add(id: ReplicaId, seq: number): void {
    const address = addressOf(id);
    const incarnation = id.slice(id.lastIndexOf('/') + 1);
    const known = this.byAddress.get(address);
    if (known !== undefined && compareIncarnations(incarnation, known.incarnation) <= 0) return;
    if (known === undefined && this.byAddress.size >= this.addressesMax) this.byAddress.delete(this.byAddress.keys().next().value!);
    this.byAddress.set(address, { incarnation, seq });
    this.record = undefined;
  }

  /** As sent to peers and kept in snapshots. */
  toRecord(): RetiredRecord {
    this.record ??= Object.freeze(Object.fromEntries(this.byAddress));
    return this.record;
  }

  /** The lives of `record` not retired here yet, as ids with their final seqs. */
  static entries(record: RetiredRecord): { id: ReplicaId; seq: number }[] {
    return Object.entries(record).map(([address, { incarnation, seq }]) => ({ id: `${address}/${incarnation}` as ReplicaId, seq }));
  }
}

/**
 * Lives at one address follow each other, and so do their incarnations: base-36 text of the
 * start time (fixed width until 2059), so a longer one is later and equal lengths compare as text.
 */
export function compareIncarnations(a: string, b: string): number {
  // A group tag (`-<shard>.<epoch>`, events/ids.ts) is not part of the start time: a node that
  // changes shard starts a new life with a new base.
  const baseA = a.indexOf('-') < 0 ? a : a.slice(0, a.indexOf('-'));
  const baseB = b.indexOf('-') < 0 ? b : b.slice(0, b.indexOf('-'));
  if (baseA.length !== baseB.length) return baseA.length - baseB.length;
  if (baseA !== baseB) return baseA < baseB ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}
