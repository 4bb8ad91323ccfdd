import { parseAddress, parseIncarnation, type Address } from './ids.ts';
import type { KvEvent } from './kv-event.ts';
import type { Limits } from './limits.ts';
import { isPlainObject, parseClock, parseEvent } from './parse-event.ts';
import { ValidationError } from './validation-error.ts';
import type { VectorClock } from './vector-clock.ts';

/**
 * The lives a replica has retired (src/core/retired-lives.ts): per address, the latest retired life
 * and its final seq. It travels beside every delivered clock a replica states, since a retired
 * entry is absent from that clock yet satisfied.
 */
export type RetiredRecord = Readonly<Record<string, { readonly incarnation: string; readonly seq: number }>>;

/** Who is speaking, on every replica-to-replica message. Identity is the stated address, never the remote IP. */
export interface PeerIdentity {
  readonly from: Address;
  readonly incarnation: string;
}

/**
 * POST /internal/events: a batch of events the receiver is believed to lack, and the sender's
 * delivered clock, so the receiver knows what the sender already has (and does not send it back).
 */
export interface PushRequest extends PeerIdentity {
  readonly events: readonly KvEvent[];
  readonly clock?: VectorClock;
  /** Set while the link is held down: keep these (the sender's own new writes) unapplied, for durability. */
  readonly custody?: boolean;
  readonly retired?: RetiredRecord;
}

/**
 * The answer to a push. Either way it carries the receiver's delivered clock, which is how the
 * sender learns what the receiver still lacks. `held-down` means the receiver refused the events
 * because it saw a failure on this link less than the hold-down time ago.
 */
export type PushReply =
  | (PeerIdentity & { readonly type: 'accepted'; readonly clock: VectorClock; readonly retired?: RetiredRecord; readonly undelivered?: VectorClock; readonly undeliveredFrom?: VectorClock; readonly stored?: VectorClock })
  | (PeerIdentity & {
      readonly type: 'held-down';
      readonly clock: VectorClock;
      readonly retired?: RetiredRecord;
      readonly undelivered?: VectorClock;
      readonly undeliveredFrom?: VectorClock;
      readonly stored?: VectorClock;
      readonly remainingMs: number;
      /** The highest of the sender's own events the receiver keeps in custody. */
      readonly custodySeq?: number;
    });

/**
 * POST /internal/event-stream carries the same pushes as POST /internal/events, one JSON line each,
 * over one long-lived exchange; the answer body holds one line per push, in the same order: the
 * reply, or why that push was refused (the status `/internal/events` would have answered).
 */
export type PushStreamAnswer = { readonly reply: PushReply } | { readonly error: string; readonly status: number };

/** GET /health as peers read it. */
export interface HealthReply extends PeerIdentity {
  readonly status: 'ok';
  readonly clock: VectorClock;
  /** Which start of this life answers (see ViewChangeOrigin.boot). */
  readonly boot?: string;
  readonly retired?: RetiredRecord;
  /**
   * Writes this replica holds undelivered (in custody for a peer, or waiting for their causal past),
   * per origin the highest seq: they exist though no clock counts them yet, and must hold back the
   * forgetting of tombstones (their origin may be gone and unable to report them).
   */
  readonly undelivered?: VectorClock;
  /**
   * Of the same writes, per origin the lowest seq: whether the next event of an ended life exists
   * anywhere. When no replica holds it, that life's later events (and all that follow them) can
   * never be delivered, and its entry can be retired. Absent from older replicas.
   */
  readonly undeliveredFrom?: VectorClock;
  /** What this replica's storage holds, when that is less than `clock` (a DATA_DIR still syncing). */
  readonly stored?: VectorClock;
}

/**
 * A replica's whole state at one delivered clock, or one chunk of it: the winning version of each
 * key (tombstones included) and the view. Sent to joiners and to peers too far behind for a suffix.
 */
export interface SnapshotChunk extends PeerIdentity {
  readonly snapshotId: string;
  readonly index: number;
  readonly last: boolean;
  readonly clock: VectorClock;
  readonly view: readonly Address[];
  readonly entries: readonly KvEvent[];
  readonly retired?: RetiredRecord;
  /**
   * The greatest place (conflict order: src/core/conflict-order.ts) of any event the sender ever
   * delivered, collected tombstones included: the receiver's writes must be placed after it.
   * Absent from older senders.
   */
  readonly maxPlace?: number;
}

/** Extension field of `PUT /view` and `DELETE /view` bodies when a replica (not a client) sends them. */
export interface ViewChangeOrigin extends PeerIdentity {
  /** Present on a self-announcement: the announcer's delivered clock. */
  readonly clock?: VectorClock;
  /**
   * Present on a self-announcement: which start of this life it is. A replica restarted from its
   * DATA_DIR keeps its incarnation (no new clock entry) but not what it had in memory; a new boot
   * tells its peers to start the link afresh and to believe the clock it announces.
   */
  readonly boot?: string;
}

export const viewChangeOriginField = 'kvs-peer';

/** The optional `undelivered` and `undeliveredFrom` fields: clocks, bounded like every clock. */
function parseUndelivered(body: Record<string, unknown>, limits: Limits): { undelivered?: VectorClock; undeliveredFrom?: VectorClock } {
  return {
    ...(body.undelivered === undefined ? {} : { undelivered: parseClock(body.undelivered, limits.clockEntriesMax, 'undelivered') }),
    ...(body.undeliveredFrom === undefined ? {} : { undeliveredFrom: parseClock(body.undeliveredFrom, limits.clockEntriesMax, 'undeliveredFrom') }),
  };
}

/** The optional `retired` field; bounded like the view it describes (four lives' worth of addresses per member). */
export function parseRetired(input: unknown, limits: Limits): { retired?: RetiredRecord } {
  if (input === undefined) return {};
  const body = requireObject(input, 'retired');
  const entries = Object.entries(body);
  if (entries.length > 4 * limits.viewMembersMax) throw new ValidationError('retired has too many entries');
  const out: Record<string, { incarnation: string; seq: number }> = {};
  for (const [address, life] of entries) {
    const parsed = requireObject(life, 'retired life');
    const seq = parsed.seq;
    if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) throw new ValidationError('retired seq must be an integer >= 0');
    out[parseAddress(address, 'retired address')] = { incarnation: parseIncarnation(parsed.incarnation), seq };
  }
  return { retired: Object.freeze(out) };
}

function parseIdentity(input: Record<string, unknown>): PeerIdentity {
  return { from: parseAddress(input.from, 'from'), incarnation: parseIncarnation(input.incarnation) };
}

function requireObject(input: unknown, what: string): Record<string, unknown> {
  if (!isPlainObject(input)) throw new ValidationError(`${what} must be a JSON object`);
  return input;
}

function parseEvents(input: unknown, limits: Limits): KvEvent[] {
  if (!Array.isArray(input)) throw new ValidationError('events must be an array');
  if (input.length > limits.pushBatchEventsMax) {
    throw new ValidationError(`too many events in one batch (${input.length} > ${limits.pushBatchEventsMax})`);
  }
  return input.map((event) => parseEvent(event, limits.clockEntriesMax));
}

export function parsePushRequest(input: unknown, limits: Limits): PushRequest {
  const body = requireObject(input, 'push');
  const events = parseEvents(body.events, limits);
  if (body.custody !== undefined && typeof body.custody !== 'boolean') throw new ValidationError('custody must be a boolean');
  return {
    ...parseIdentity(body),
    events,
    ...(body.clock === undefined ? {} : { clock: parseClock(body.clock, limits.clockEntriesMax) }),
    ...(body.custody === true ? { custody: true } : {}),
    ...parseRetired(body.retired, limits),
  };
}

export function parsePushReply(input: unknown, limits: Limits): PushReply {
  const body = requireObject(input, 'push reply');
  const identity = parseIdentity(body);
  const clock = parseClock(body.clock, limits.clockEntriesMax);
  const retired = {
    ...parseRetired(body.retired, limits),
    ...parseUndelivered(body, limits),
    ...(body.stored === undefined ? {} : { stored: parseClock(body.stored, limits.clockEntriesMax, 'stored') }),
  };
  if (body.type === 'accepted') return { ...identity, type: 'accepted', clock, ...retired };
  if (body.type === 'held-down') {
    const remainingMs = body.remainingMs;
    if (typeof remainingMs !== 'number' || !(remainingMs >= 0)) throw new ValidationError('remainingMs must be a number >= 0');
    const custodySeq = body.custodySeq;
    if (custodySeq === undefined) return { ...identity, type: 'held-down', clock, remainingMs, ...retired };
    if (typeof custodySeq !== 'number' || !Number.isSafeInteger(custodySeq) || custodySeq < 0) throw new ValidationError('custodySeq must be an integer >= 0');
    return { ...identity, type: 'held-down', clock, remainingMs, custodySeq, ...retired };
  }
  throw new ValidationError('push reply type must be "accepted" or "held-down"');
}

export function parsePushStreamAnswer(input: unknown, limits: Limits): PushStreamAnswer {
  const body = requireObject(input, 'push stream answer');
  if (body.reply !== undefined) return { reply: parsePushReply(body.reply, limits) };
  const { error, status } = body;
  if (typeof error !== 'string' || typeof status !== 'number' || !Number.isSafeInteger(status) || status < 400 || status > 599) {
    throw new ValidationError('push stream answer must hold a reply, or an error with a 4xx/5xx status');
  }
  return { error: error.slice(0, 500), status };
}

export function parseHealthReply(input: unknown, limits: Limits): HealthReply {
  const body = requireObject(input, 'health reply');
  if (body.status !== 'ok') throw new ValidationError('health status must be "ok"');
  const reply = {
    ...parseIdentity(body),
    status: 'ok' as const,
    clock: parseClock(body.clock, limits.clockEntriesMax),
    ...parseRetired(body.retired, limits),
    ...parseUndelivered(body, limits),
    ...(body.stored === undefined ? {} : { stored: parseClock(body.stored, limits.clockEntriesMax, 'stored') }),
  };
  return body.boot === undefined ? reply : { ...reply, boot: parseBoot(body.boot) };
}

export function parseSnapshotChunk(input: unknown, limits: Limits): SnapshotChunk {
  const body = requireObject(input, 'snapshot');
  const { snapshotId, index, last } = body;
  if (typeof snapshotId !== 'string' || snapshotId.length === 0 || snapshotId.length > 64) {
    throw new ValidationError('snapshotId must be a short string');
  }
  if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 0) throw new ValidationError('index must be an integer >= 0');
  if (typeof last !== 'boolean') throw new ValidationError('last must be a boolean');
  if (!Array.isArray(body.view) || body.view.length > limits.viewMembersMax) throw new ValidationError('view must be a short array');
  if (!Array.isArray(body.entries) || body.entries.length > limits.snapshotChunkKeysMax) {
    throw new ValidationError(`entries must be an array of at most ${limits.snapshotChunkKeysMax}`);
  }
  return {
    ...parseIdentity(body),
    snapshotId,
    index,
    last,
    clock: parseClock(body.clock, limits.clockEntriesMax),
    view: body.view.map((address) => parseAddress(address, 'view member')),
    entries: body.entries.map((event) => parseEvent(event, limits.clockEntriesMax)),
    ...parseRetired(body.retired, limits),
    ...parseMaxPlace(body.maxPlace),
  };
}

/** The optional `maxPlace` field of a snapshot chunk. */
function parseMaxPlace(input: unknown): { maxPlace?: number } {
  if (input === undefined) return {};
  if (typeof input !== 'number' || !Number.isSafeInteger(input) || input < 0) throw new ValidationError('maxPlace must be an integer >= 0');
  return { maxPlace: input };
}

/** The optional `kvs-peer` field of a view change; undefined when a client sent it. */
export function parseViewChangeOrigin(input: unknown, limits: Limits): ViewChangeOrigin | undefined {
  if (input === undefined) return undefined;
  const body = requireObject(input, viewChangeOriginField);
  const identity = parseIdentity(body);
  return {
    ...identity,
    ...(body.clock === undefined ? {} : { clock: parseClock(body.clock, limits.clockEntriesMax) }),
    ...(body.boot === undefined ? {} : { boot: parseBoot(body.boot) }),
  };
}

function parseBoot(input: unknown): string {
  if (typeof input !== 'string' || !/^[0-9a-z]{1,16}$/.test(input)) throw new ValidationError('boot must be 1 to 16 characters of [0-9a-z]');
  return input;
}
