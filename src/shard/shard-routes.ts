import type Router from '@koa/router';
import type { Middleware } from 'koa';
import { ExpectedError } from '../../events/expected-error.ts';
import { parseAddress, type Address } from '../../events/ids.ts';
import type { Limits } from '../../events/limits.ts';
import { peerRpcs } from '../../events/peer-rpc.ts';
import { addMember, membersOf, shardIds, shardOfNode, unknownShardMessage } from '../../events/shard-map.ts';
import { parseExportRequest, parseHandoffRequest, parseImportRequest, parseReshardRunningQuery, parseReshardStep, parseShardMapState, shardPaths, type ReshardRunningReply } from '../../events/shard-messages.ts';
import { ValidationError } from '../../events/validation-error.ts';
import type { Logger } from '../node/logger.ts';
import { bodyObject, jsonBody } from '../http/body.ts';
import type { OnFatal } from '../http/errors.ts';
import { groupStatusOf } from './group-status.ts';
import { spreadMap } from './map-spread.ts';
import { apply, importHere, runReshard } from './reshard.ts';
import { forwardStreamPath } from '../../events/forward-frames.ts';
import { serveForwardStream } from './forward-stream-route.ts';
import type { ShardClient } from './shard-client.ts';
import { ShardUnavailable, type ShardedKvs } from './sharded-kvs.ts';
import type { ShardedNode } from './sharded-node.ts';

export interface ShardRoutesOptions {
  readonly sharded: ShardedNode;
  readonly client: ShardClient;
  readonly limits: Limits;
  readonly log: Logger;
  /** How long one forwarded request may take at the member that serves it (its causal wait and write acknowledgement included). */
  readonly forwardTimeoutMs: number;
  readonly clusterOnly: Middleware;
  /** Serves /kvs requests, the forwarded ones of the forward stream among them. */
  readonly kvs: ShardedKvs;
  readonly onFatal: OnFatal;
}

/** How long add-member waits for the new member to have joined its group (its data pulled). */
const joinWaitMs = 10_000;

function shardIdParam(raw: string | undefined): number {
  const id = Number(raw);
  if (raw === undefined || !/^[0-9]{1,9}$/.test(raw) || !Number.isSafeInteger(id)) throw new ValidationError(unknownShardMessage, 404);
  return id;
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
    await refuseMovingLastLiveMember(options, address, id);
    // Another node's change of the map made at the same moment may win over this one; this node
    // then makes it again on the map that won (ShardedNode.change), and spreads it.
    if (sharded.change((map) => addMember(map, id, address), 'add-member')) await spreadMap(sharded, client, log);
    await awaitJoined(options, address);
    ctx.body = { result: 'node added to shard' };
  });

  router.put('/shard/reshard', clusterOnly, async (ctx) => {
    const count = bodyObject(ctx)['shard-count'];
    if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 1) throw new ValidationError('shard-count must be a positive integer');
    await runReshard(sharded, client, limits, log, count);
    ctx.body = { result: 'resharded' };
  });

  // ---------------------------------------------------------------- /internal/shard: between nodes
  router.post(forwardStreamPath, clusterOnly, (ctx) =>
    serveForwardStream(ctx, {
      // A client's body was bounded by BODY_BYTES_MAX where it arrived; its line is bounded like a peer's body.
      lineBytesMax: limits.peerBodyBytesMax,
      serve: (request) => options.kvs.serve({ method: request.method, key: request.key, body: request.body, metadataHeader: request.metadataHeader ?? '' }, request.hops),
      onFatal: options.onFatal,
      log,
    }),
  );

  router.get(shardPaths.map, clusterOnly, (ctx) => {
    ctx.body = sharded.state();
  });

  router.put(shardPaths.map, clusterOnly, controlBody, (ctx) => {
    const state = parseShardMapState(bodyObject(ctx), limits);
    sharded.noteQuiesced(state.quiesced);
    const adopted = state.map !== null && sharded.adopt(state.map, 'spread', state.view, state.byReshard === true, state.from);
    ctx.body = { adopted, epoch: sharded.map.epoch };
  });

  router.get(shardPaths.status, clusterOnly, (ctx) => {
    ctx.body = sharded.status();
  });

  router.post(shardPaths.reshard, clusterOnly, controlBody, (ctx) => {
    apply(sharded, parseReshardStep(bodyObject(ctx), limits));
    ctx.body = { epoch: sharded.map.epoch };
  });

  router.get(shardPaths.reshardRunning, clusterOnly, (ctx) => {
    const answer: ReshardRunningReply = { running: sharded.coordinating.has(parseReshardRunningQuery(ctx.query)) };
    ctx.body = answer;
  });

  router.post(shardPaths.export, clusterOnly, controlBody, (ctx) => {
    const request = parseExportRequest(bodyObject(ctx), limits);
    const page = sharded.exportPage(request.next, request.reshard, request.offset, request.limit);
    if (page === undefined) throw new ExpectedError(`not frozen for the reshard to epoch ${request.next.epoch}`, 409);
    ctx.body = page;
  });

  router.post(shardPaths.import, clusterOnly, controlBody, async (ctx) => {
    const { events, reshard } = parseImportRequest(bodyObject(ctx), limits);
    await importHere(sharded, events, reshard);
    ctx.body = { imported: events.length };
  });

  router.post(shardPaths.handoff, clusterOnly, controlBody, async (ctx) => {
    const { group, events, quiesced } = parseHandoffRequest(bodyObject(ctx), limits);
    ctx.body = await sharded.takeHandoff(group, events, quiesced);
  });
}

/**
 * A member of another shard that add-member would move must leave a member of its shard alive that
 * holds its keys: the map's count alone (addMember) does not see that the others are down, and
 * sharded nodes keep their data in memory only. Its own group's view says who answers it (found
 * in review). A node that does not answer is moved: what it holds, the others hold too.
 */
async function refuseMovingLastLiveMember(options: ShardRoutesOptions, address: Address, to: number): Promise<void> {
  const { sharded, client, limits } = options;
  const current = shardOfNode(sharded.map, address);
  if (current === undefined || current === to) return;
  let live: readonly Address[] | undefined;
  try {
    const status = await groupStatusOf(sharded, client, limits, address, 2000);
    live = status.shard === current ? status.live : undefined;
  } catch {
    return;
  }
  if (live !== undefined && !live.some((member) => member !== address)) {
    throw new ExpectedError(`${address} is the last live member of shard ${current}: moving it would lose that shard's keys`, 409);
  }
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
