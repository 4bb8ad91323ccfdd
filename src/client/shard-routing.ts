// The client's view of a sharded store (docs/API.md "Sharding"): the shard map as the public
// endpoints list it (GET /shard/ids, GET /shard/members/<id>), the shard of a key (the servers' own
// shardOfKey, which reads the ids alone), the order to try nodes in for a key, and when to look the
// map up again. No I/O and no clock of its own (`now` is passed in): kvs-client.ts does the requests.
import { shardOfKey } from '../../events/shard-map.ts';

/** One shard as GET /shard/members/<id> lists it. */
export interface ClientShard {
  readonly id: number;
  /** `IP:PORT`, in the order the server listed them (sorted). */
  readonly members: readonly string[];
}

/** The shards of a store, by id; what the client routes by. */
export interface ClientShardMap {
  readonly shards: readonly ClientShard[];
}

/** What the client knows of the store: nothing yet, one shard (no /shard endpoints), or a map. */
export type StoreLayout = { readonly kind: 'unknown' } | { readonly kind: 'unsharded' } | { readonly kind: 'sharded'; readonly map: ClientShardMap };

export interface ShardRoutingOptions {
  /** At most one lookup per this many ms, whatever asks for it (a stale map, a 503, a failed lookup). */
  readonly refreshMs: number;
  /** A map older than this is looked up again before the next operation (a node may have moved to another shard under the same ids). */
  readonly maxAgeMs: number;
}

/** The 503 a node gives when no member of the key's shard answered it (docs/API.md "Sharding"). */
export const shardUnavailableMessage = 'shard unavailable';

/** The `"shard-ids"` of a GET /shard/ids answer: a non-empty list of distinct positive integers, or undefined. */
export function parseShardIds(body: Record<string, unknown>): number[] | undefined {
  const ids = body['shard-ids'];
  if (!Array.isArray(ids) || ids.length === 0) return undefined;
  if (!ids.every((id) => typeof id === 'number' && Number.isSafeInteger(id) && id > 0)) return undefined;
  return new Set(ids).size === ids.length ? (ids as number[]) : undefined;
}

/** The `"shard-members"` of a GET /shard/members/<id> answer: addresses (checked by `isAddress`), or undefined. */
export function parseShardMembers(body: Record<string, unknown>, isAddress: (text: string) => boolean): string[] | undefined {
  const members = body['shard-members'];
  if (!Array.isArray(members)) return undefined;
  return members.every((member) => typeof member === 'string' && isAddress(member)) ? (members as string[]) : undefined;
}

/**
 * The nodes to try for a request on `key`, in order: the members of its shard that are up (from
 * `preferred`, the member that answered last, round the list), then the other nodes that are up
 * (`others` in its order, then members of other shards it lacks: any node forwards to the shard),
 * then the members that are down, then the other nodes that are down.
 */
export function routeOrder(
  map: ClientShardMap,
  key: string,
  others: readonly string[],
  isDown: (node: string) => boolean,
  preferred?: string,
): { readonly shard: number; readonly order: string[] } {
  const shard = shardOfKey(map, key);
  const members = map.shards.find((candidate) => candidate.id === shard)?.members ?? [];
  const start = preferred === undefined ? 0 : Math.max(0, members.indexOf(preferred));
  const own = [...members.slice(start), ...members.slice(0, start)];
  const inShard = new Set(members);
  const everyone = [...new Set([...others, ...map.shards.flatMap((candidate) => candidate.members)])];
  const rest = everyone.filter((node) => !inShard.has(node));
  const up = (list: readonly string[]) => list.filter((node) => !isDown(node));
  const down = (list: readonly string[]) => list.filter(isDown);
  return { shard, order: [...up(own), ...up(rest), ...down(own), ...down(rest)] };
}

/**
 * What the client knows of the store's shards and when to ask again. A lookup is due when nothing
 * is known yet, when an answer showed the map is out of date (stale), or when the map is older
 * than `maxAgeMs`; never twice within `refreshMs`. A failed lookup keeps what was known.
 */
export class ShardRouting {
  readonly #options: ShardRoutingOptions;
  #layout: StoreLayout = { kind: 'unknown' };
  #learnedAt = Number.NEGATIVE_INFINITY;
  #triedAt = Number.NEGATIVE_INFINITY;
  #stale = false;
  /** Shard id -> the member that answered last: tried first next time. */
  readonly #preferred = new Map<number, string>();

  constructor(options: ShardRoutingOptions) {
    this.#options = options;
  }

  get layout(): StoreLayout {
    return this.#layout;
  }

  /** Whether an answer showed the map to be out of date since the last lookup. */
  get stale(): boolean {
    return this.#stale;
  }

  /** Whether to look the map up before routing a request at `now`. */
  lookupDue(now: number): boolean {
    if (now - this.#triedAt < this.#options.refreshMs) return false;
    switch (this.#layout.kind) {
      case 'unknown':
        return true;
      case 'unsharded':
        return this.#stale;
      case 'sharded':
        return this.#stale || now - this.#learnedAt >= this.#options.maxAgeMs;
    }
  }

  /** A lookup at `now` found `layout`. */
  learned(layout: Exclude<StoreLayout, { kind: 'unknown' }>, now: number): void {
    this.#layout = layout;
    this.#learnedAt = now;
    this.#triedAt = now;
    this.#stale = false;
    if (layout.kind !== 'sharded') {
      this.#preferred.clear();
      return;
    }
    for (const [id, member] of this.#preferred) {
      if (!layout.map.shards.some((shard) => shard.id === id && shard.members.includes(member))) this.#preferred.delete(id);
    }
  }

  /** A lookup at `now` found nothing usable: what was known stays, and the next try waits `refreshMs`. */
  lookupFailed(now: number): void {
    this.#triedAt = now;
  }

  /** The shard of `key` and the nodes to try for it; without a map, `others` as they are. */
  route(key: string, others: readonly string[], isDown: (node: string) => boolean): { readonly shard: number | undefined; readonly order: string[] } {
    if (this.#layout.kind !== 'sharded') return { shard: undefined, order: [...others] };
    const map = this.#layout.map;
    return routeOrder(map, key, others, isDown, this.#preferred.get(shardOfKey(map, key)));
  }

  /**
   * `replica` answered a request on `key` (2xx, or 404 for a missing key) with `shardId`, its body's
   * `"shard-id"`. The map is stale when the id is not the map's shard of the key (a reshard), when
   * a store taken for unsharded names a shard or a sharded one names none, and when the answer came
   * from a node outside the key's shard: the members the map lists were tried first and none
   * answered (they may have left the shard). Otherwise the member is tried first next time.
   */
  answered(key: string, shardId: unknown, replica: string): void {
    const layout = this.#layout;
    if (layout.kind === 'unknown') return;
    if (layout.kind === 'unsharded') {
      if (shardId !== undefined) this.#stale = true;
      return;
    }
    const shard = shardOfKey(layout.map, key);
    const member = layout.map.shards.find((candidate) => candidate.id === shard)?.members.includes(replica) === true;
    if (shardId !== shard || !member) {
      this.#stale = true;
      return;
    }
    this.#preferred.set(shard, replica);
  }

  /** A node answered 503 "shard unavailable": the members the client knows may be gone. */
  shardUnavailable(): void {
    if (this.#layout.kind === 'sharded') this.#stale = true;
  }
}
