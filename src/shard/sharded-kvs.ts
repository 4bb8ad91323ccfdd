import type { Middleware } from 'koa';
import { ExpectedError } from '../../events/expected-error.ts';
import type { Address } from '../../events/ids.ts';
import type { Limits } from '../../events/limits.ts';
import { membersOf } from '../../events/shard-map.ts';
import type { VectorClock } from '../../events/vector-clock.ts';
import { keyOf, kvsRequestOf, serveKvs, type KvsAnswer, type KvsRequest } from '../http/kvs-routes.ts';
import type { ForwardLinks } from './forward-links.ts';
import { forwardOrder, UnansweredMembers } from './forward-targets.ts';
import { forwardedHeader, ShardCallError } from './shard-client.ts';
import type { ShardedNode } from './sharded-node.ts';

export interface ShardedKvsOptions {
  readonly sharded: ShardedNode;
  readonly limits: Limits;
  readonly links: ForwardLinks;
  /** Called with each forwarded request's outcome and time (the metrics). */
  readonly onForwarded?: (ok: boolean, seconds: number) => void;
}

const metadataField = 'causal-metadata';
/** The methods of /kvs/<key> (HEAD answers as GET would, without the body). */
const kvsMethods = new Set(['GET', 'HEAD', 'PUT', 'DELETE']);
/** A request forwarded this many times is not forwarded again (maps that disagree for a moment must not bounce it around). */
export const forwardHopsMax = 2;

/** A request for a key of another shard that no member answered: the 503 of docs/API.md "Sharding". */
export class ShardUnavailable extends ExpectedError {
  constructor(shardId: number, members: readonly Address[]) {
    super('shard unavailable', 503, true, { 'shard-id': shardId, 'shard-members': [...members] });
  }
}

const resharding = (): ExpectedError => new ExpectedError('Keys are moving between shards (a reshard); try again later', 503);

/**
 * `/kvs/<key>` of a sharded node, whether the client sent it here or another node forwarded it
 * (on a forward stream, or as a plain request from an older node): a key of another shard is
 * forwarded to one of its members (the next when one cannot be reached) and its answer relayed with
 * `"shard-id"`; a key of this shard is served here, unless a reshard is moving it. Every answer
 * names its shard, and its metadata drops the entries of groups that no longer exist.
 */
export class ShardedKvs {
  private readonly unanswered = new UnansweredMembers();

  constructor(private readonly options: ShardedKvsOptions) {}

  /** `hops`: how many times the request was forwarded to get here. */
  async serve(request: KvsRequest, hops: number): Promise<KvsAnswer> {
    const { sharded, limits } = this.options;
    const shard = sharded.shardOf(request.key);
    if (shard !== sharded.shard) {
      if (hops >= forwardHopsMax) throw new ShardUnavailable(shard, membersOf(sharded.map, shard));
      return this.forward(request, shard, hops + 1);
    }
    let answer: KvsAnswer;
    try {
      answer = await serveKvs(sharded, limits, request, () => {
        if (sharded.arrivingKey(request.key) || (request.method !== 'GET' && sharded.writesFrozen)) throw resharding();
      });
    } catch (error) {
      // A refusal names its shard too, as a forwarded one does.
      if (error instanceof ExpectedError && error.expose) throw new ExpectedError(error.message, error.status, true, { ...error.details, 'shard-id': shard });
      throw error;
    }
    const body: Record<string, unknown> = { ...answer.body, 'shard-id': shard };
    if (body[metadataField] !== undefined) body[metadataField] = sharded.withoutGoneGroups(body[metadataField] as VectorClock);
    return { status: answer.status, body };
  }

  /**
   * Mounted before the body is read: a refusal met on the way to serve() (a body that is not JSON,
   * too large, of an unknown encoding) names the key's shard too, as docs/API.md promises of every
   * /kvs answer. A key that does not decode has no shard: its 400 goes as it is.
   */
  refusalsNameTheirShard(): Middleware {
    return async (ctx, next) => {
      if (!ctx.path.startsWith('/kvs/')) return next();
      try {
        await next();
      } catch (error) {
        if (!(error instanceof ExpectedError) || !error.expose || (error.details !== undefined && 'shard-id' in error.details)) throw error;
        let key: string;
        try {
          key = keyOf(ctx);
        } catch {
          throw error;
        }
        throw new ExpectedError(error.message, error.status, true, { ...error.details, 'shard-id': this.options.sharded.shardOf(key) });
      }
    };
  }

  /** Koa's way in: a client's request, or an older node's plain forwarded one (its hops in a header). */
  middleware(): Middleware {
    return async (ctx, next) => {
      if (!ctx.path.startsWith('/kvs/') || !kvsMethods.has(ctx.method)) return next();
      const hops = Number(ctx.get(forwardedHeader) || '0');
      const answer = await this.serve(kvsRequestOf(ctx), Number.isSafeInteger(hops) && hops >= 0 ? hops : forwardHopsMax);
      ctx.status = answer.status;
      ctx.body = answer.body;
    };
  }

  /**
   * Forwards the request to a member of `shard`, in this node's order for it (forwardOrder). A
   * member that cannot be reached is passed over; a write that reached a member and then failed is
   * not sent again elsewhere (it may have been made): 503.
   */
  private async forward(request: KvsRequest, shard: number, hops: number): Promise<KvsAnswer> {
    const { sharded, links, onForwarded } = this.options;
    const members = this.unanswered.lastOf(forwardOrder(sharded.map, sharded.self, shard));
    const frame = { method: request.method, key: request.key, body: request.body, hops, ...(request.metadataHeader === '' ? {} : { metadataHeader: request.metadataHeader }) };
    const started = performance.now();
    for (const member of members) {
      try {
        const answer = await links.send(member, frame);
        this.unanswered.answered(member);
        sharded.counters.forwarded++;
        onForwarded?.(true, (performance.now() - started) / 1000);
        return { status: answer.status, body: { ...answer.body, 'shard-id': shard } };
      } catch (error) {
        this.unanswered.failed(member, Date.now());
        if (request.method !== 'GET' && error instanceof ShardCallError && !error.notSent) break;
      }
    }
    sharded.counters.forwardFailures++;
    onForwarded?.(false, (performance.now() - started) / 1000);
    throw new ShardUnavailable(shard, membersOf(sharded.map, shard));
  }
}
