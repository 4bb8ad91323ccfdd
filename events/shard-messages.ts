import { parseAddress, type Address } from './ids.ts';
import type { KvEvent } from './kv-event.ts';
import type { Limits } from './limits.ts';
import { isPlainObject, parseClock, parseEvent } from './parse-event.ts';
import { parseRetired, type RetiredRecord } from './peer-messages.ts';
import { parseShardMap, type ShardMap } from './shard-map.ts';
import { ValidationError } from './validation-error.ts';
import type { VectorClock } from './vector-clock.ts';

/**
 * Node-to-node messages of a sharded store (src/shard/): who is in the cluster and which map it
 * follows, and the steps of a reshard. They concern nodes, not replica groups: a group's own
 * replication is events/peer-rpc.ts, unchanged. Every path is under /internal (cluster token).
 */
export const shardPaths = {
  /** GET: this node's map and cluster view. PUT: a newer map (and view) to adopt. */
  map: '/internal/shard/map',
  /** GET: this node's group status (for a reshard's quiescence check). */
  status: '/internal/shard/status',
  /** POST: a reshard step (`ReshardStep`), by `step`. */
  reshard: '/internal/shard/reshard',
  /** POST: the entries that leave this shard under the next map, a page at a time. */
  export: '/internal/shard/export',
  /** POST: entries that join this shard: written here as events of this group. */
  import: '/internal/shard/import',
  /** POST: writes a node took while cut off from a reshard, for keys this shard owns now (`HandoffRequest`). */
  handoff: '/internal/shard/handoff',
  /** GET `?reshard=<id>`: whether this node is coordinating that reshard now (`ReshardRunningReply`); asked by the nodes it froze. */
  reshardRunning: '/internal/shard/reshard-running',
} as const;

/**
 * Per group (its tag, events/ids.ts `groupTag`), the clock its members agreed on when the latest
 * reshard quiesced it, and that reshard's epoch: every write of the group the clock covers went
 * with the reshard's export. A write of the group beyond it was taken by a member the reshard did
 * not reach (cut off, it acknowledged writes alone), and is handed to the keys' new shard when that
 * member learns the map (src/shard/handoff.ts).
 */
export type QuiescedClocks = Readonly<Record<string, QuiescedGroup>>;

export interface QuiescedGroup {
  /** The epoch of the map the reshard made. */
  readonly epoch: number;
  readonly clock: VectorClock;
  /** The group's lives retired by then, with their final seqs: their entries are gone from `clock`, their writes went too. */
  readonly retired?: RetiredRecord;
}

/** A node's map (null: unsharded) and the cluster's nodes as it knows them. */
export interface ShardMapState {
  readonly map: ShardMap | null;
  readonly view: readonly Address[];
  /**
   * The map was made by a reshard's commit. Between two maps of the same epoch (a reshard's and a
   * change made at once elsewhere, at a node the reshard did not reach) the reshard's wins: keys
   * have moved under it. Absent: false (older nodes).
   */
  readonly byReshard?: boolean;
  /** The node that sent it (absent: an older node, whose whole view is merged as before). */
  readonly from?: Address;
  /** What the latest reshards took from each group (absent: none known, or an older node). */
  readonly quiesced?: QuiescedClocks;
}

export interface GroupStatus {
  readonly epoch: number;
  /** The node's shard (null: none). */
  readonly shard: number | null;
  /** Its group's delivered clock. */
  readonly clock: VectorClock;
  readonly joined: boolean;
  /** The members of its group that answer its probes, itself included (absent: an older node). */
  readonly live?: readonly Address[];
  /** Its group's retired lives (absent: none, or an older node): their entries are not in `clock`. */
  readonly retired?: RetiredRecord;
}

/**
 * The steps of a reshard to `next` (src/shard/reshard.ts): `freeze` stops writes; `commit` adopts
 * `next` (keys that move in answer 503 until `ready`); `ready` lets them and writes go on and drops
 * the keys that moved away; `thaw` gives up a reshard that was never committed.
 */
export interface ReshardStep {
  readonly step: 'freeze' | 'commit' | 'ready' | 'thaw';
  readonly next: ShardMap;
  /** Which reshard: its coordinator's own id for it. Two reshards to the same map are still two. */
  readonly reshard: string;
  /** commit and ready: the clock each group of the map before it was quiesced at (absent: an older coordinator). */
  readonly quiesced?: QuiescedClocks;
}

export interface ExportRequest {
  readonly next: ShardMap;
  readonly reshard: string;
  readonly offset: number;
  readonly limit: number;
}

export interface ExportReply {
  readonly events: readonly KvEvent[];
  /** How many entries leave in all (the pages end at `total`). */
  readonly total: number;
}

export interface ImportRequest {
  readonly events: readonly KvEvent[];
  /** The reshard the events arrive by: refused once another reshard took over, or this one is ready. */
  readonly reshard: string;
}

/** Writes of `group` that a reshard did not take (beyond its quiesced clock), for keys of the receiving node's shard. */
export interface HandoffRequest {
  readonly group: string;
  readonly events: readonly KvEvent[];
  /**
   * What the reshard that missed them took from `group`, as the sender cut them down with: judged
   * by a later reshard's clock, writes the group delivered after the cut healed (but no longer
   * keeps, their keys having left) would count as taken. Absent: the receiver's latest is used.
   */
  readonly quiesced?: QuiescedGroup;
}

export interface HandoffReply {
  /** Written here as new events of this shard's group. */
  readonly written: number;
  /** Taken already: by the reshard's export, an earlier hand-off, or this group's own replication. */
  readonly skipped: number;
}

/** Most groups whose quiesced clock a message carries, and a node keeps (the latest reshards'). */
export const quiescedGroupsMax = 64;
const groupTagPattern = /^[0-9]{1,9}\.[0-9]{1,16}$/;

function groupTagOf(input: unknown): string {
  if (typeof input !== 'string' || !groupTagPattern.test(input)) throw new ValidationError('group must be a group tag (shard id and epoch: "2.5")');
  return input;
}

function parseQuiesced(input: unknown, limits: Limits): { quiesced?: QuiescedClocks } {
  if (input === undefined) return {};
  const body = object(input, 'quiesced');
  const tags = Object.keys(body);
  if (tags.length > quiescedGroupsMax) throw new ValidationError(`quiesced must have at most ${quiescedGroupsMax} groups`);
  const out: Record<string, QuiescedGroup> = {};
  for (const tag of tags) out[tag] = parseQuiescedGroup(body[tag], groupTagOf(tag), limits);
  return { quiesced: out };
}

function parseQuiescedGroup(input: unknown, tag: string, limits: Limits): QuiescedGroup {
  const group = object(input, `quiesced group ${tag}`);
  return {
    epoch: count(group.epoch, `quiesced epoch of ${tag}`, Number.MAX_SAFE_INTEGER),
    clock: parseClock(group.clock, limits.clockEntriesMax, `quiesced clock of ${tag}`),
    ...parseRetired(group.retired, limits),
  };
}

/** Whether a reshard is still run by its coordinator: a node frozen by one that is not thaws. */
export interface ReshardRunningReply {
  readonly running: boolean;
}

/** Most characters of a reshard's id. */
const reshardIdMax = 200;

function reshardId(input: unknown): string {
  if (typeof input !== 'string' || input.length === 0 || input.length > reshardIdMax) throw new ValidationError(`reshard must be a string of 1 to ${reshardIdMax} characters`);
  return input;
}

const reshardSteps = new Set(['freeze', 'commit', 'ready', 'thaw']);

function object(input: unknown, what: string): Record<string, unknown> {
  if (!isPlainObject(input)) throw new ValidationError(`${what} must be an object`);
  return input;
}

function count(input: unknown, what: string, max: number): number {
  if (typeof input !== 'number' || !Number.isSafeInteger(input) || input < 0 || input > max) {
    throw new ValidationError(`${what} must be an integer from 0 to ${max}`);
  }
  return input;
}

export function parseShardMapState(input: unknown, limits: Limits): ShardMapState {
  const body = object(input, 'shard map state');
  const map = body.map === null ? null : parseShardMap(body.map, limits.viewMembersMax);
  if (!Array.isArray(body.view) || body.view.length > limits.viewMembersMax) {
    throw new ValidationError(`view must be an array of at most ${limits.viewMembersMax} addresses`);
  }
  if (body.byReshard !== undefined && typeof body.byReshard !== 'boolean') throw new ValidationError('byReshard must be a boolean');
  return {
    map,
    view: body.view.map((address) => parseAddress(address, 'view member')),
    byReshard: body.byReshard === true,
    ...(body.from === undefined ? {} : { from: parseAddress(body.from, 'from') }),
    ...parseQuiesced(body.quiesced, limits),
  };
}

export function parseGroupStatus(input: unknown, limits: Limits): GroupStatus {
  const body = object(input, 'group status');
  const shard = body.shard === null ? null : count(body.shard, 'shard', limits.viewMembersMax);
  if (typeof body.joined !== 'boolean') throw new ValidationError('joined must be a boolean');
  const status = { epoch: count(body.epoch, 'epoch', Number.MAX_SAFE_INTEGER), shard, clock: parseClock(body.clock, limits.clockEntriesMax), joined: body.joined, ...parseRetired(body.retired, limits) };
  if (body.live === undefined) return status;
  if (!Array.isArray(body.live) || body.live.length > limits.viewMembersMax) throw new ValidationError(`live must be an array of at most ${limits.viewMembersMax} addresses`);
  return { ...status, live: body.live.map((address) => parseAddress(address, 'live member')) };
}

export function parseReshardStep(input: unknown, limits: Limits): ReshardStep {
  const body = object(input, 'reshard step');
  if (typeof body.step !== 'string' || !reshardSteps.has(body.step)) throw new ValidationError('step must be freeze, commit, ready or thaw');
  return { step: body.step as ReshardStep['step'], next: parseShardMap(body.next, limits.viewMembersMax), reshard: reshardId(body.reshard), ...parseQuiesced(body.quiesced, limits) };
}

export function parseExportRequest(input: unknown, limits: Limits): ExportRequest {
  const body = object(input, 'export request');
  return {
    next: parseShardMap(body.next, limits.viewMembersMax),
    reshard: reshardId(body.reshard),
    offset: count(body.offset, 'offset', Number.MAX_SAFE_INTEGER),
    limit: count(body.limit, 'limit', limits.snapshotChunkKeysMax),
  };
}

function parseEvents(input: unknown, limits: Limits): KvEvent[] {
  if (!Array.isArray(input) || input.length > limits.snapshotChunkKeysMax) {
    throw new ValidationError(`events must be an array of at most ${limits.snapshotChunkKeysMax}`);
  }
  return input.map((event) => parseEvent(event, limits.clockEntriesMax));
}

export function parseExportReply(input: unknown, limits: Limits): ExportReply {
  const body = object(input, 'export reply');
  return { events: parseEvents(body.events, limits), total: count(body.total, 'total', Number.MAX_SAFE_INTEGER) };
}

export function parseImportRequest(input: unknown, limits: Limits): ImportRequest {
  const body = object(input, 'import request');
  return { events: parseEvents(body.events, limits), reshard: reshardId(body.reshard) };
}

export function parseHandoffRequest(input: unknown, limits: Limits): HandoffRequest {
  const body = object(input, 'hand-off request');
  const group = groupTagOf(body.group);
  return { group, events: parseEvents(body.events, limits), ...(body.quiesced === undefined ? {} : { quiesced: parseQuiescedGroup(body.quiesced, group, limits) }) };
}

export function parseHandoffReply(input: unknown): HandoffReply {
  const body = object(input, 'hand-off reply');
  return { written: count(body.written, 'written', Number.MAX_SAFE_INTEGER), skipped: count(body.skipped, 'skipped', Number.MAX_SAFE_INTEGER) };
}

/** The query of `shardPaths.reshardRunning`: the reshard asked about. */
export function parseReshardRunningQuery(query: Record<string, unknown>): string {
  return reshardId(query.reshard);
}

export function parseReshardRunningReply(input: unknown): ReshardRunningReply {
  const body = object(input, 'reshard-running reply');
  if (typeof body.running !== 'boolean') throw new ValidationError('running must be a boolean');
  return { running: body.running };
}
