import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { ExpectedError } from '../../events/expected-error.ts';
import { parseAddress, type Address } from '../../events/ids.ts';
import type { Limits } from '../../events/limits.ts';
import { isPlainObject } from '../../events/parse-event.ts';
import { peerRpcs } from '../../events/peer-rpc.ts';
import { addMember, membersOf, shardIds, unknownShardMessage } from '../../events/shard-map.ts';
import { parseExportRequest, parseImportRequest, parseReshardStep, parseShardMapState, shardPaths } from '../../events/shard-messages.ts';
import { ValidationError } from '../../events/validation-error.ts';
import type { VectorClock } from '../../events/vector-clock.ts';
import type { Logger } from '../node/logger.ts';
import { bodyObject, jsonBody } from '../http/body.ts';
import { keyOf } from '../http/kvs-routes.ts';
import { spreadMap } from './map-spread.ts';
import { apply, runReshard } from './reshard.ts';
import { forwardOrder, UnansweredMembers } from './forward-targets.ts';
import { forwardedHeader, ShardCallError, type ShardClient } from './shard-client.ts';
import type { ShardedNode } from './sharded-node.ts';

export interface ShardRoutesOptions {
  readonly sharded: ShardedNode;
  readonly client: ShardClient;
  readonly limits: Limits;
  readonly log: Logger;
  /** How long one forwarded request may take at the member that serves it (its causal wait and write acknowledgement included). */
  readonly forwardTimeoutMs: number;
  readonly clusterOnly: Middleware;
  /** Called with each forwarded request's outcome and time (the metrics). */
  readonly onForwarded?: (ok: boolean, seconds: number) => void;
}

const metadataField = 'causal-metadata';
/** The methods of /kvs/<key> (HEAD answers as GET would, without the body). */
const kvsMethods = new Set(['GET', 'HEAD', 'PUT', 'DELETE']);
/** A request forwarded this many times is not forwarded again (maps that disagree for a moment must not bounce it around). */
const forwardHopsMax = 2;
/** How long add-member waits for the new member to have joined its group (its data pulled). */
const joinWaitMs = 10_000;

/** A request for a key of another shard, or a reshard in the way: the 503s of docs/API.md "Sharding". */
class ShardUnavailable extends ExpectedError {
  constructor(shardId: number, members: readonly Address[]) {
    super('shard unavailable', 503, true, { 'shard-id': shardId, 'shard-members': [...members] });
  }
}

const resharding = (): ExpectedError => new ExpectedError('Keys are moving between shards (a reshard); try again later', 503);

function shardIdParam(raw: string | undefined): number {
  const id = Number(raw);
  if (raw === undefined || !/^[0-9]{1,9}$/.test(raw) || !Number.isSafeInteger(id)) throw new ValidationError(unknownShardMessage, 404);
  return id;
}

/**
 * `/kvs/<key>` of a sharded node: a key of another shard is forwarded to one of its members (the
 * next when one does not answer) and its answer relayed with `"shard-id"`; a key of this shard is
 * served here, unless a reshard is moving it. Every answer names its shard, and its metadata drops
 * the entries of groups that no longer exist.
 */
export function shardedKvs(options: ShardRoutesOptions): Middleware {
  const { sharded, limits } = options;
  const unanswered = new UnansweredMembers();
  return async (ctx, next) => {
    if (!ctx.path.startsWith('/kvs/') || !kvsMethods.has(ctx.method)) return next();
    const key = keyOf(ctx, limits);
    const shard = sharded.shardOf(key);
    if (shard !== sharded.shard) {
      const hops = Number(ctx.get(forwardedHeader) || '0');
      if (hops >= forwardHopsMax) throw new ShardUnavailable(shard, membersOf(sharded.map, shard));
      await forward(ctx, options, shard, hops + 1, unanswered);
      return;
    }
    const reading = ctx.method === 'GET' || ctx.method === 'HEAD';
    try {
      if (sharded.arrivingKey(key) || (!reading && sharded.writesFrozen)) throw resharding();
      await next();
    } catch (error) {
      // A refusal names its shard too, as a forwarded one does.
      if (error instanceof ExpectedError && error.expose) throw new ExpectedError(error.message, error.status, true, { ...error.details, 'shard-id': shard });
      throw error;
    }
    if (isPlainObject(ctx.body)) {
      const body = ctx.body as Record<string, unknown>;
      if (body[metadataField] !== undefined) body[metadataField] = sharded.withoutGoneGroups(body[metadataField] as VectorClock);
      body['shard-id'] = shard;
    }
  };
}

/**
 * Forwards the request to a member of `shard`, in this node's order for it (forwardOrder).
 * A member that cannot be reached is passed over; a write that reached a member and then timed out
 * is not sent again elsewhere (it may have been made): 503.
 */
async function forward(ctx: Context, options: ShardRoutesOptions, shard: number, hops: number, unanswered: UnansweredMembers): Promise<void> {
  const { map, self } = options.sharded;
  const members = unanswered.lastOf(forwardOrder(map, self, shard));
  const headers: Record<string, string> = { [forwardedHeader]: String(hops) };
  const header = ctx.get('x-causal-metadata');
  if (header !== '') headers['x-causal-metadata'] = header;
  const body = bodyObject(ctx);
  const started = performance.now();
  for (let i = 0; i < members.length; i++) {
    const member = members[i]!;
    try {
      // HEAD is asked as a GET (its answer carries a body to parse); Koa sends a HEAD answer without it.
      const method = ctx.method === 'HEAD' ? 'GET' : ctx.method;
      const answer = await options.client.request(member, method, ctx.url, body, headers, options.forwardTimeoutMs);
      unanswered.answered(member);
      options.sharded.counters.forwarded++;
      options.onForwarded?.(true, (performance.now() - started) / 1000);
      ctx.status = answer.status;
      ctx.body = isPlainObject(answer.body) ? { ...answer.body, 'shard-id': shard } : answer.body;
      return;
    } catch (error) {
      unanswered.failed(member, Date.now());
      if (ctx.method !== 'GET' && ctx.method !== 'HEAD' && error instanceof ShardCallError && !error.notSent) break;
    }
  }
  options.sharded.counters.forwardFailures++;
  options.onForwarded?.(false, (performance.now() - started) / 1000);
  throw new ShardUnavailable(shard, membersOf(options.sharded.map, shard));
}

/** `/view`, `/shard/...` and the `/internal/shard/...` control messages of a sharded node. */
export function registerShardRoutes(router: Router, options: ShardRoutesOptions): void {
  const { sharded, client, limits, log, clusterOnly } = options;
  const controlBody = jsonBody(limits.peerBodyBytesMax);

  // ---------------------------------------------------------------- /view: the cluster's nodes
  router.get('/view', (ctx) => {
    ctx.body = { view: sharded.view() };
  });

  router.put('/view', clusterOnly, (ctx) => {
    const request = peerRpcs['view-add'].parseRequest({ query: ctx.query, body: bodyObject(ctx) }, limits);
    const added = sharded.addToCluster(request.address);
    // A member of this node's group (a new life announcing itself, or a client adding it back) joins the group's view too.
    const inGroup = sharded.shard !== undefined && membersOf(sharded.map, sharded.shard).includes(request.address);
    const result = inGroup ? sharded.node.handle({ rpc: 'view-add', request }).result : added ? 'added' : 'already present';
    ctx.status = result === 'added' || added ? 201 : 200;
    ctx.body = { result: ctx.status === 201 ? 'added' : 'already present' };
  });

  router.delete('/view', clusterOnly, async (ctx) => {
    const request = peerRpcs['view-delete'].parseRequest({ query: ctx.query, body: bodyObject(ctx) }, limits);
    // A replica's failure detector (origin set) changes its group's view only; a client's delete removes the node from the cluster and its shard.
    const inGroupView = sharded.node.core.inView(request.address);
    if (inGroupView) sharded.node.handle({ rpc: 'view-delete', request });
    const removed = request.origin === undefined && sharded.removeFromCluster(request.address);
    if (!removed && !inGroupView) {
      ctx.status = 404;
      ctx.body = { error: 'View has no such replica' };
      return;
    }
    if (removed) await spreadMap(sharded, client, log);
    ctx.status = 200;
    ctx.body = { result: 'deleted' };
  });

  // ---------------------------------------------------------------- /shard: the course's Assignment 4
  router.get('/shard/ids', (ctx) => {
    ctx.body = { 'shard-ids': shardIds(sharded.map) };
  });

  router.get('/shard/node-shard-id', (ctx) => {
    ctx.body = { 'node-shard-id': sharded.shard ?? null };
  });

  router.get('/shard/members/:id', (ctx) => {
    ctx.body = { 'shard-members': [...membersOf(sharded.map, shardIdParam(ctx.params.id))] };
  });

  router.get('/shard/key-count/:id', async (ctx) => {
    const id = shardIdParam(ctx.params.id);
    const members = membersOf(sharded.map, id);
    if (id === sharded.shard && sharded.node.core.joined) {
      ctx.body = { 'shard-key-count': sharded.node.core.liveKeysOf((key) => sharded.shardOf(key) === id) };
      return;
    }
    for (const member of members) {
      if (member === sharded.self) continue;
      try {
        const answer = await client.request(member, 'GET', `/shard/key-count/${id}`, undefined, {}, options.forwardTimeoutMs);
        if (answer.status !== 200) continue;
        ctx.body = answer.body;
        return;
      } catch {
        // the next member
      }
    }
    throw new ShardUnavailable(id, members);
  });

  router.put('/shard/add-member/:id', clusterOnly, async (ctx) => {
    const id = shardIdParam(ctx.params.id);
    const body = bodyObject(ctx);
    membersOf(sharded.map, id);
    const address = parseAddress(body['socket-address']);
    if (!sharded.inView(address)) throw new ValidationError(`${address} is not in the view`, 404);
    if (sharded.reshardInProgress) throw new ExpectedError('a reshard is in progress; try again later', 503);
    const next = addMember(sharded.map, id, address);
    if (next !== sharded.map) {
      sharded.adopt(next, 'add-member');
      await spreadMap(sharded, client, log);
      await awaitJoined(options, address);
    }
    ctx.body = { result: 'node added to shard' };
  });

  router.put('/shard/reshard', clusterOnly, async (ctx) => {
    const count = bodyObject(ctx)['shard-count'];
    if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 1) throw new ValidationError('shard-count must be a positive integer');
    await runReshard(sharded, client, limits, log, count);
    ctx.body = { result: 'resharded' };
  });

  // ---------------------------------------------------------------- /internal/shard: between nodes
  router.get(shardPaths.map, clusterOnly, (ctx) => {
    ctx.body = sharded.state();
  });

  router.put(shardPaths.map, clusterOnly, controlBody, (ctx) => {
    const state = parseShardMapState(bodyObject(ctx), limits);
    const adopted = state.map !== null && sharded.adopt(state.map, 'spread', state.view);
    ctx.body = { adopted, epoch: sharded.map.epoch };
  });

  router.get(shardPaths.status, clusterOnly, (ctx) => {
    ctx.body = sharded.status();
  });

  router.post(shardPaths.reshard, clusterOnly, controlBody, (ctx) => {
    const { step, next } = parseReshardStep(bodyObject(ctx), limits);
    apply(sharded, step, next);
    ctx.body = { epoch: sharded.map.epoch };
  });

  router.post(shardPaths.export, clusterOnly, controlBody, (ctx) => {
    const request = parseExportRequest(bodyObject(ctx), limits);
    const page = sharded.exportPage(request.next, request.offset, request.limit);
    if (page === undefined) throw new ExpectedError(`not frozen for the reshard to epoch ${request.next.epoch}`, 409);
    ctx.body = page;
  });

  router.post(shardPaths.import, clusterOnly, controlBody, async (ctx) => {
    const { events } = parseImportRequest(bodyObject(ctx), limits);
    for (const event of events) {
      if (sharded.shardOf(event.key) !== sharded.shard) throw new ExpectedError(`key ${JSON.stringify(event.key)} is not this shard's (map epoch ${sharded.map.epoch})`, 409);
    }
    await sharded.importEvents(events);
    ctx.body = { imported: events.length };
  });
}

/** Waits (bounded) until `address` reports its group joined: add-member answers once the new member holds the shard's data. */
async function awaitJoined(options: ShardRoutesOptions, address: Address): Promise<void> {
  const deadline = Date.now() + joinWaitMs;
  while (Date.now() < deadline) {
    try {
      const status = address === options.sharded.self ? options.sharded.status() : await options.client.call(address, 'GET', shardPaths.status, undefined, 1000, (body) => body as { joined?: unknown; epoch?: unknown });
      if (status.joined === true && status.epoch === options.sharded.map.epoch) return;
    } catch {
      // not up yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  options.log.warn({ event: 'add-member-slow', peer: address }, 'the new member has not joined its shard yet');
}
