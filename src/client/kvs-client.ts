// A typed client for causal-kvs (see docs/API.md). It carries the session's causal metadata for the
// caller, retries a 503 with bounded backoff, fails over to another replica when one is down,
// learns the cluster's replicas from GET /view, and, in a sharded store, learns the shard map and
// sends each key to a member of its shard. It talks HTTP to the replicas and nothing else.
import { Agent as HttpAgent } from 'node:http';
import got, { RequestError } from 'got';
import { backoffDelayMs, resolveRetry, type RetryOptions } from './backoff.ts';
import { KvsError, type AttemptRecord } from './errors.ts';
import { parseShardIds, parseShardMembers, ShardRouting, shardUnavailableMessage, type ClientShard, type ClientShardMap, type StoreLayout } from './shard-routing.ts';

export { KvsError, type AttemptRecord, type KvsErrorKind } from './errors.ts';
export { backoffDelayMs, defaultRetry, type RetryOptions } from './backoff.ts';
export type { ClientShard, ClientShardMap } from './shard-routing.ts';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
/** What the store keeps under a key: any JSON value except `null`. */
export type KvsValue = string | number | boolean | JsonValue[] | { [key: string]: JsonValue };

export interface KvsClientOptions {
  /** Replicas to talk to, `IP:PORT` (or `host:port`); the first is tried first. At least one. */
  readonly replicas: readonly string[];
  /** Causal metadata to start the session from (what `metadata` returned earlier); default none. */
  readonly metadata?: unknown;
  readonly retry?: Partial<RetryOptions>;
  /** Time limit of one request, in ms (default 5000; a replica may wait CAUSAL_WAIT_MS before a 503). */
  readonly timeoutMs?: number;
  /** Time limit for connecting to a replica, in ms (default 1000). */
  readonly connectTimeoutMs?: number;
  /**
   * Learn replicas from GET /view (default true): after an operation had to fail over, the replica
   * that answered is asked for its view, and `view()` answers are used the same way.
   */
  readonly discoverView?: boolean;
  /** A replica that could not be reached is tried after the others for this long, in ms (default 5000). */
  readonly downCooldownMs?: number;
  /** An HTTP agent to use; by default the client makes its own keep-alive agent (see `close()`). */
  readonly agent?: HttpAgent;
  /** Source of randomness for the backoff jitter (default Math.random). */
  readonly random?: () => number;
  /**
   * Called after every request of an operation with its outcome (for logging, metrics, tests). The
   * shard map lookups are not operations: they are reported to `onShardMap`.
   */
  readonly onAttempt?: (attempt: AttemptEvent) => void;
  /**
   * Route keys by the shard map (default true): the client looks the map up with GET /shard/ids and
   * GET /shard/members/<id> before its first key operation and sends each key to a member of its
   * shard first, then to any node (which forwards it). A store without /shard/ids (404) is
   * unsharded: requests go to the replicas as they would with this off.
   */
  readonly shardRouting?: boolean;
  /** At most one shard map lookup per this many ms (default 2000), whatever asks for it. */
  readonly shardMapRefreshMs?: number;
  /** A shard map older than this is looked up again before the next key operation, in ms (default 60000). */
  readonly shardMapMaxAgeMs?: number;
  /** Called after every shard map lookup with what it found. */
  readonly onShardMap?: (lookup: ShardMapLookup) => void;
}

/** One shard map lookup: the map found (`sharded`), a store without shards, or no usable answer from any node tried. */
export interface ShardMapLookup {
  readonly outcome: 'sharded' | 'unsharded' | 'failed';
  /** The node whose answers were used (none when the lookup failed). */
  readonly replica: string | undefined;
  /** The map found, when `outcome` is `sharded`. */
  readonly shards: readonly ClientShard[] | undefined;
  /** The nodes that gave no usable answer before (or instead of) the one used. */
  readonly failures: readonly AttemptRecord[];
}

/** One shard as `shards()` lists it. */
export interface ShardInfo extends ClientShard {
  /** GET /shard/key-count/<id>, or null when no node could give it. */
  readonly keyCount: number | null;
}

export interface ShardListing {
  /** The shards by id, or null: the store is not sharded. */
  readonly shards: readonly ShardInfo[] | null;
  /** The node that listed the shards. */
  readonly replica: string;
}

/** One request as `onAttempt` reports it. */
export interface AttemptEvent extends AttemptRecord {
  readonly method: string;
  readonly path: string;
}

export type GetResult<T extends KvsValue = KvsValue> = { readonly found: true; readonly value: T } | { readonly found: false };
export type PutResult = 'created' | 'replaced';
export type DeleteResult = 'deleted' | 'not-found';

/** One event of a replica's operation log, as GET /debug/log shows it. */
export type LogEvent =
  | { readonly type: 'put'; readonly origin: string; readonly seq: number; readonly key: string; readonly clock: Record<string, number>; readonly value: KvsValue }
  | { readonly type: 'delete'; readonly origin: string; readonly seq: number; readonly key: string; readonly clock: Record<string, number> };

export interface DebugLogQuery {
  /** Only events created by this replica life (a key of a clock: `IP:PORT/incarnation`). */
  readonly origin?: string;
  readonly key?: string;
  /** Only events with `seq` greater than this. */
  readonly since?: number;
  readonly limit?: number;
}

export interface DebugLog {
  /** The answering replica's delivered clock. */
  readonly clock: Record<string, number>;
  readonly logLength: number;
  /** Events folded out of the log in the last few seconds come first, then the log's. */
  readonly events: readonly LogEvent[];
  /** The page was cut at its limit: more events match. */
  readonly more: boolean;
  /** The replica that answered. */
  readonly replica: string;
}

const addressPattern = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):(\d{1,5})$/;

/** `IP:PORT` or `host:port` with a port in 1..65535. */
export function isReplicaAddress(text: string): boolean {
  const match = addressPattern.exec(text);
  if (match === null) return false;
  const port = Number(match[2]);
  return port >= 1 && port <= 65_535;
}

const keyMissing = 'Key does not exist';
const metadataField = 'causal-metadata';
const shardIdField = 'shard-id';
/** A shard map lookup asks at most this many nodes before it gives up until the next one is due. */
const lookupNodesMax = 3;

interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
  readonly replica: string;
}

type Method = 'GET' | 'PUT' | 'DELETE';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function describeNetworkError(error: RequestError): string {
  const code = error.code;
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ETIMEDOUT') return `timed out (${error.message})`;
  if (code === 'ECONNRESET') return 'connection reset';
  return code ? `${code}: ${error.message}` : error.message;
}

/**
 * A session against a causal-kvs cluster. Operations on one client run one at a time, in call
 * order, so each carries the metadata the previous one left: a client is one causal session
 * (read-your-writes, monotonic reads, writes-follow-reads), whichever replica answers. Use several
 * clients for independent, parallel sessions.
 *
 * A request that timed out may have been applied before the answer was lost; it is then retried
 * elsewhere like any other failure, so a put may report 'replaced' for its own first write, and a
 * delete 'not-found' for a key it did delete (both idempotent in effect).
 */
export class KvsClient {
  readonly #given: readonly string[];
  #learned: string[] = [];
  #metadata: unknown;
  readonly #retry: RetryOptions;
  readonly #timeoutMs: number;
  readonly #connectTimeoutMs: number;
  readonly #discoverView: boolean;
  readonly #downCooldownMs: number;
  readonly #agent: HttpAgent;
  readonly #ownAgent: boolean;
  readonly #random: () => number;
  readonly #onAttempt: ((attempt: AttemptEvent) => void) | undefined;
  readonly #shardRouting: boolean;
  readonly #routing: ShardRouting;
  readonly #onShardMap: ((lookup: ShardMapLookup) => void) | undefined;
  #lastShard: number | undefined;
  /** Replica -> time until which it counts as down (tried after the others). */
  readonly #downUntil = new Map<string, number>();
  #preferred: string;
  #lastReplica: string | undefined;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: KvsClientOptions) {
    const replicas = [...new Set(options.replicas ?? [])];
    if (replicas.length === 0) throw new KvsError('invalid-argument', 'replicas must list at least one IP:PORT');
    for (const replica of replicas) {
      if (typeof replica !== 'string' || !isReplicaAddress(replica)) {
        throw new KvsError('invalid-argument', `replica address ${JSON.stringify(replica)} is not IP:PORT`);
      }
    }
    this.#given = replicas;
    this.#preferred = replicas[0]!;
    this.#metadata = options.metadata ?? null;
    this.#retry = resolveRetry(options.retry);
    this.#timeoutMs = positive(options.timeoutMs, 5000, 'timeoutMs');
    this.#connectTimeoutMs = positive(options.connectTimeoutMs, 1000, 'connectTimeoutMs');
    this.#downCooldownMs = positive(options.downCooldownMs, 5000, 'downCooldownMs');
    this.#discoverView = options.discoverView ?? true;
    this.#ownAgent = options.agent === undefined;
    this.#agent = options.agent ?? new HttpAgent({ keepAlive: true, maxSockets: 16 });
    this.#random = options.random ?? Math.random;
    this.#onAttempt = options.onAttempt;
    this.#shardRouting = options.shardRouting ?? true;
    this.#routing = new ShardRouting({
      refreshMs: positive(options.shardMapRefreshMs, 2000, 'shardMapRefreshMs'),
      maxAgeMs: positive(options.shardMapMaxAgeMs, 60_000, 'shardMapMaxAgeMs'),
    });
    this.#onShardMap = options.onShardMap;
  }

  /** The latest causal metadata received (opaque); send it back through a new client to resume the session. */
  get metadata(): unknown {
    return this.#metadata;
  }

  set metadata(metadata: unknown) {
    this.#metadata = metadata ?? null;
  }

  /** Every replica this client knows: the given ones first, then those learned from GET /view. */
  get replicas(): readonly string[] {
    return [...this.#given, ...this.#learned.filter((replica) => !this.#given.includes(replica))];
  }

  /** The replica that answered the last successful request. */
  get lastReplica(): string | undefined {
    return this.#lastReplica;
  }

  /** The shard map the client routes by: undefined before it is known, null when the store is not sharded. */
  get shardMap(): ClientShardMap | null | undefined {
    const layout = this.#routing.layout;
    return layout.kind === 'sharded' ? layout.map : layout.kind === 'unsharded' ? null : undefined;
  }

  /** The `"shard-id"` of the last key operation's answer (the shard that holds the key); undefined when the store did not name one. */
  get lastShard(): number | undefined {
    return this.#lastShard;
  }

  /** `{found: true, value}`, or `{found: false}` when the key was never written or was deleted. */
  get<T extends KvsValue = KvsValue>(key: string): Promise<GetResult<T>> {
    return this.#session(async () => {
      const answer = await this.#kvs('GET', key, { [metadataField]: this.#metadata });
      if (answer.status === 200) {
        if (!('value' in answer.body) || answer.body.value === null) throw protocolError(answer, 'a 200 without a value');
        return { found: true, value: answer.body.value as T };
      }
      return { found: false };
    });
  }

  /** Writes `value` (any JSON value except null): `'created'` if the key did not exist, else `'replaced'`. */
  put(key: string, value: KvsValue): Promise<PutResult> {
    if (value === null || value === undefined) {
      return Promise.reject(new KvsError('invalid-argument', 'the store keeps any JSON value except null (and undefined)'));
    }
    return this.#session(async () => {
      const answer = await this.#kvs('PUT', key, { value, [metadataField]: this.#metadata });
      const result = answer.body.result;
      if ((answer.status === 201 && result === 'created') || (answer.status === 200 && result === 'replaced')) return result;
      throw protocolError(answer, `result ${JSON.stringify(result)}`);
    });
  }

  /** `'deleted'`, or `'not-found'` when the key did not exist. */
  delete(key: string): Promise<DeleteResult> {
    return this.#session(async () => {
      const answer = await this.#kvs('DELETE', key, { [metadataField]: this.#metadata });
      return answer.status === 200 ? 'deleted' : 'not-found';
    });
  }

  /** The replicas in the cluster's view, as one replica sees it. Not causally ordered. */
  async view(): Promise<string[]> {
    const answer = await this.#request('GET', '/view', undefined);
    const view = answer.body.view;
    if (answer.status !== 200 || !Array.isArray(view) || !view.every((item) => typeof item === 'string')) {
      throw unexpected(answer);
    }
    this.#learn(view);
    return view;
  }

  /** One page of a replica's operation log (GET /debug/log, an extension for inspection). */
  async debugLog(query: DebugLogQuery = {}): Promise<DebugLog> {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) if (value !== undefined) params.set(name, String(value));
    const search = params.toString() === '' ? '' : `?${params}`;
    const answer = await this.#request('GET', `/debug/log${search}`, undefined);
    const { clock, events, logLength, more } = answer.body;
    if (answer.status !== 200 || typeof clock !== 'object' || clock === null || !Array.isArray(events)) throw unexpected(answer);
    return { clock: clock as Record<string, number>, events: events as LogEvent[], logLength: Number(logLength), more: more === true, replica: answer.replica };
  }

  /**
   * The store's shards as one node lists them (a lookup now, which the client routes by from then
   * on), each with its key count; `shards: null` when the store is not sharded. Not causally ordered.
   */
  async shards(): Promise<ShardListing> {
    const started = Date.now();
    const lookup = await this.#lookup(started + this.#retry.totalMsMax);
    if (lookup.replica === undefined) throw unavailable(lookup.failures, Date.now() - started);
    if (lookup.shards === undefined) return { shards: null, replica: lookup.replica };
    const shards = await Promise.all(lookup.shards.map(async (shard) => ({ ...shard, keyCount: await this.#keyCount(shard.id) })));
    return { shards, replica: lookup.replica };
  }

  /** Asks a replica for its view now and remembers the replicas in it; errors are swallowed. */
  async refreshView(): Promise<void> {
    try {
      await this.view();
    } catch {
      // best effort: the replicas already known still work
    }
  }

  /** Releases the client's own keep-alive connections. The client can still be used afterwards. */
  close(): void {
    if (this.#ownAgent) this.#agent.destroy();
  }

  /** Runs `operation` after every earlier one of this session has finished. */
  #session<T>(operation: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(operation, operation);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /**
   * A /kvs request; resolves with 200/201, or 404 "Key does not exist"; carries the metadata of both.
   * Its `"shard-id"` tells the routing whether the map it used is still the store's.
   */
  async #kvs(method: Method, key: string, body: Record<string, unknown>): Promise<Answer> {
    if (typeof key !== 'string' || key.length === 0) throw new KvsError('invalid-argument', 'a key is a non-empty string');
    const answer = await this.#request(method, `/kvs/${encodeURIComponent(key)}`, body, key);
    const ok = answer.status === 200 || answer.status === 201;
    const missing = answer.status === 404 && (answer.body.error === keyMissing || metadataField in answer.body);
    if (!ok && !missing) throw unexpected(answer);
    const metadata = answer.body[metadataField];
    if (metadata !== undefined) this.#metadata = metadata;
    const shardId = answer.body[shardIdField];
    this.#lastShard = typeof shardId === 'number' ? shardId : undefined;
    if (this.#shardRouting) this.#routing.answered(key, shardId, answer.replica);
    return answer;
  }

  /** GET /shard/key-count/<id> through the usual retries; null when it cannot be had. */
  async #keyCount(id: number): Promise<number | null> {
    try {
      const answer = await this.#request('GET', `/shard/key-count/${id}`, undefined);
      const count = answer.body['shard-key-count'];
      return answer.status === 200 && typeof count === 'number' ? count : null;
    } catch (error) {
      if (error instanceof KvsError) return null;
      throw error;
    }
  }

  /**
   * One operation's requests: the preferred replica first, then the others; a replica that cannot
   * be reached is skipped at once (and tried last for a while); a 503 is retried on the next
   * replica after a backoff wait; everything else is the answer. Gives up as `unavailable` after
   * `attemptsMax` requests or `totalMsMax` ms. A request on `key` goes to the nodes in the order
   * `#round` gives (the key's shard first, in a sharded store).
   */
  async #request(method: Method, path: string, body: Record<string, unknown> | undefined, key?: string): Promise<Answer> {
    const started = Date.now();
    const deadline = started + this.#retry.totalMsMax;
    const attempts: AttemptRecord[] = [];
    let waits = 0;
    let round = await this.#round(key, deadline);
    let next = 0;
    let waitFirst = false;
    for (;;) {
      if (attempts.length >= this.#retry.attemptsMax) break;
      if (next >= round.length) {
        // Every known replica was tried once: start over, after a wait.
        round = await this.#round(key, deadline);
        next = 0;
        waitFirst = true;
      }
      if (waitFirst) {
        const delay = Math.min(backoffDelayMs(this.#retry, waits++, this.#random), deadline - Date.now());
        if (delay > 0) await sleep(delay);
        waitFirst = false;
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) break;
      const replica = round[next++]!;
      let answer: Answer;
      try {
        answer = await this.#send(replica, method, path, body, Math.min(this.#timeoutMs, remaining));
      } catch (error) {
        if (!(error instanceof RequestError)) throw error;
        const detail = describeNetworkError(error);
        attempts.push({ replica, outcome: 'unreachable', detail });
        this.#onAttempt?.({ replica, outcome: 'unreachable', detail, method, path });
        this.#downUntil.set(replica, Date.now() + this.#downCooldownMs);
        continue;
      }
      this.#onAttempt?.({ replica, outcome: answer.status, detail: errorText(answer) ?? '', method, path });
      if (answer.status === 502 || answer.status === 504) {
        attempts.push({ replica, outcome: answer.status, detail: errorText(answer) ?? `HTTP ${answer.status}` });
        this.#downUntil.set(replica, Date.now() + this.#downCooldownMs);
        continue;
      }
      this.#downUntil.delete(replica);
      if (answer.status === 503) {
        if (key !== undefined && errorText(answer) === shardUnavailableMessage) this.#routing.shardUnavailable();
        attempts.push({ replica, outcome: 503, detail: errorText(answer) ?? 'HTTP 503' });
        waitFirst = true;
        continue;
      }
      this.#preferred = replica;
      this.#lastReplica = replica;
      if (attempts.some((attempt) => attempt.outcome !== 503) && this.#discoverView && path !== '/view') {
        // We had to fail over: ask a replica that works which replicas there are now.
        await this.refreshView();
      }
      return answer;
    }
    throw unavailable(attempts, Date.now() - started);
  }

  /** The order to try replicas in: the preferred one, the rest in order, those recently down last. */
  #candidates(): string[] {
    const now = Date.now();
    const all = this.replicas;
    const start = Math.max(0, all.indexOf(this.#preferred));
    const rotated = [...all.slice(start), ...all.slice(0, start)];
    const isDown = (replica: string) => (this.#downUntil.get(replica) ?? 0) > now;
    return [...rotated.filter((replica) => !isDown(replica)), ...rotated.filter(isDown)];
  }

  /**
   * The nodes to try for a request, in order: `#candidates()`, or for a key of a sharded store the
   * members of its shard first (shard-routing.ts `routeOrder`). Looks the shard map up first when
   * one is due (bounded by `shardMapRefreshMs`).
   */
  async #round(key: string | undefined, deadline: number): Promise<string[]> {
    if (key === undefined || !this.#shardRouting) return this.#candidates();
    if (this.#routing.lookupDue(Date.now())) await this.#lookup(deadline);
    const now = Date.now();
    return this.#routing.route(key, this.#candidates(), (replica) => (this.#downUntil.get(replica) ?? 0) > now).order;
  }

  /**
   * Looks the shard map up with the public endpoints: GET /shard/ids, then GET /shard/members/<id>
   * of the same node for every id. A 404 for /shard/ids: the store is not sharded. Asks up to
   * `lookupNodesMax` nodes (the usual order, then members it knows from the map) until one answers
   * in full; tells the routing what it found (or that it found nothing) and `onShardMap`.
   * Leaves the failover state (which replicas are down or preferred) as it was.
   */
  async #lookup(deadline: number): Promise<ShardMapLookup> {
    const failures: AttemptRecord[] = [];
    const known = this.#routing.layout;
    const members = known.kind === 'sharded' ? known.map.shards.flatMap((shard) => shard.members) : [];
    const nodes = [...new Set([...this.#candidates(), ...members])].slice(0, lookupNodesMax);
    let lookup: ShardMapLookup | undefined;
    for (const replica of nodes) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) break;
      const found = await this.#lookupAt(replica, Math.min(this.#timeoutMs, remaining));
      if ('outcome' in found) {
        failures.push(found);
        continue;
      }
      this.#routing.learned(found, Date.now());
      const shards = found.kind === 'sharded' ? found.map.shards : undefined;
      lookup = { outcome: found.kind, replica, shards, failures };
      break;
    }
    if (lookup === undefined) {
      this.#routing.lookupFailed(Date.now());
      lookup = { outcome: 'failed', replica: undefined, shards: undefined, failures };
    }
    this.#onShardMap?.(lookup);
    return lookup;
  }

  /** The store's layout as `replica` lists it, or why it could not. */
  async #lookupAt(replica: string, timeoutMs: number): Promise<Exclude<StoreLayout, { kind: 'unknown' }> | AttemptRecord> {
    const ids = await this.#probe(replica, '/shard/ids', timeoutMs);
    if ('outcome' in ids) return ids;
    if (ids.status === 404) return { kind: 'unsharded' };
    const list = ids.status === 200 ? parseShardIds(ids.body) : undefined;
    if (list === undefined) return { replica, outcome: ids.status, detail: `GET /shard/ids: ${errorText(ids) ?? JSON.stringify(ids.body)}` };
    const answers = await Promise.all(list.map((id) => this.#probe(replica, `/shard/members/${id}`, timeoutMs)));
    const shards: ClientShard[] = [];
    for (const [i, answer] of answers.entries()) {
      if ('outcome' in answer) return answer;
      const members = answer.status === 200 ? parseShardMembers(answer.body, isReplicaAddress) : undefined;
      // A 404 here: the map changed between the two requests (a reshard); another node, or the next lookup, will do.
      if (members === undefined) return { replica, outcome: answer.status, detail: `GET /shard/members/${list[i]}: ${errorText(answer) ?? JSON.stringify(answer.body)}` };
      shards.push({ id: list[i]!, members });
    }
    return { kind: 'sharded', map: { shards } };
  }

  /** One GET of a lookup: the answer (a body that is not JSON counts as empty), or why none came. */
  async #probe(replica: string, path: string, timeoutMs: number): Promise<Answer | AttemptRecord> {
    try {
      return await this.#send(replica, 'GET', path, undefined, timeoutMs);
    } catch (error) {
      if (error instanceof RequestError) return { replica, outcome: 'unreachable', detail: `GET ${path}: ${describeNetworkError(error)}` };
      if (error instanceof KvsError && error.status !== undefined) return { status: error.status, body: {}, replica };
      throw error;
    }
  }

  #learn(view: readonly string[]): void {
    if (!this.#discoverView) return;
    this.#learned = view.filter((replica) => isReplicaAddress(replica));
  }

  async #send(replica: string, method: Method, path: string, body: Record<string, unknown> | undefined, timeoutMs: number): Promise<Answer> {
    const response = await got(`http://${replica}${path}`, {
      method,
      allowGetBody: true,
      throwHttpErrors: false,
      followRedirect: false,
      retry: { limit: 0 },
      agent: { http: this.#agent },
      timeout: { connect: Math.min(this.#connectTimeoutMs, timeoutMs), request: timeoutMs },
      headers: { accept: 'application/json', 'user-agent': 'causal-kvs-client', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    let parsed: unknown;
    try {
      parsed = JSON.parse(response.body);
    } catch {
      parsed = undefined;
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      if (response.statusCode === 502 || response.statusCode === 503 || response.statusCode === 504) {
        return { status: response.statusCode, body: {}, replica };
      }
      throw new KvsError('protocol', `${replica} answered ${response.statusCode} with a body that is not a JSON object: ${response.body.slice(0, 200)}`, {
        status: response.statusCode,
        replica,
      });
    }
    return { status: response.statusCode, body: parsed as Record<string, unknown>, replica };
  }
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) throw new KvsError('invalid-argument', `${name} must be a positive number of ms, got ${value}`);
  return value;
}

function errorText(answer: Answer): string | undefined {
  return typeof answer.body.error === 'string' ? answer.body.error : undefined;
}

/** A 4xx or 5xx that is not retried. */
function unexpected(answer: Answer): KvsError {
  const serverMessage = errorText(answer);
  const text = serverMessage ?? JSON.stringify(answer.body);
  const options = { status: answer.status, serverMessage, replica: answer.replica };
  if (answer.status >= 400 && answer.status < 500) return new KvsError('rejected', `${answer.replica} refused the request (${answer.status}): ${text}`, options);
  if (answer.status >= 500) return new KvsError('server', `${answer.replica} failed (${answer.status}): ${text}`, options);
  return protocolError(answer, `status ${answer.status}`);
}

function protocolError(answer: Answer, what: string): KvsError {
  return new KvsError('protocol', `${answer.replica} gave an answer the API does not allow (${what}): ${JSON.stringify(answer.body)}`, {
    status: answer.status,
    replica: answer.replica,
  });
}

function unavailable(attempts: readonly AttemptRecord[], elapsedMs: number): KvsError {
  const last = attempts.at(-1);
  const answered = attempts.filter((attempt) => attempt.outcome !== 'unreachable');
  const lastAnswer = answered.at(-1);
  const tried = [...new Set(attempts.map((attempt) => attempt.replica))];
  const why =
    answered.length === 0
      ? `no replica reachable (${tried.map((replica) => `${replica}: ${attempts.filter((a) => a.replica === replica).at(-1)!.detail}`).join('; ')})`
      : `${lastAnswer!.replica} answered ${lastAnswer!.outcome}: ${lastAnswer!.detail}`;
  return new KvsError('unavailable', `unavailable after ${attempts.length} attempt(s) in ${elapsedMs} ms: ${why}`, {
    status: typeof lastAnswer?.outcome === 'number' ? lastAnswer.outcome : undefined,
    serverMessage: lastAnswer?.detail,
    replica: last?.replica,
    attempts,
  });
}
