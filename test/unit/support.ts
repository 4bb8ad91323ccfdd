// Shared builders for the unit suites: ids, events, random causal histories, view comparison.
import fc from 'fast-check';
import * as assert from 'uvu/assert';
import { replicaId, type Address, type ReplicaId } from '../../events/ids.ts';
import type { KvEvent } from '../../events/kv-event.ts';
import { eventId } from '../../events/kv-event.ts';
import { defaultLimits, type Limits } from '../../events/limits.ts';
import { exchangeOf, rpcOf, type Outcome, type PeerMessage, type PeerReply } from '../../events/peer-rpc.ts';
import { ValidationError } from '../../events/validation-error.ts';
import { emptyClock, mergeClocks, type VectorClock } from '../../events/vector-clock.ts';
import { viewEntries, type KvView } from '../../src/core/kv-view.ts';
import { defaultProtocolSettings, type ProtocolSettings } from '../../src/core/protocol-settings.ts';
import type { Replica, Send } from '../../src/core/replica.ts';

export const addresses = ['10.0.0.1:8090', '10.0.0.2:8090', '10.0.0.3:8090', '10.0.0.4:8090'] as Address[];
export const ids: ReplicaId[] = addresses.map((address) => replicaId(address, 'a'));

export function id(index: number): ReplicaId {
  return ids[index]!;
}

export function clock(entries: Record<number, number>): VectorClock {
  const out: Record<string, number> = {};
  for (const [index, value] of Object.entries(entries)) if (value > 0) out[id(Number(index))] = value;
  return Object.freeze(out) as VectorClock;
}

/** An event of replica `origin` (an index into `ids`) whose clock is `deps` with its own entry set to `seq`. */
export function put(origin: number, seq: number, key: string, value: unknown, deps: Record<number, number> = {}): KvEvent {
  const c = clock({ ...deps, [origin]: seq });
  return Object.freeze({ type: 'put', origin: id(origin), seq, key, value: value as never, clock: c });
}

export function del(origin: number, seq: number, key: string, deps: Record<number, number> = {}): KvEvent {
  const c = clock({ ...deps, [origin]: seq });
  return Object.freeze({ type: 'delete', origin: id(origin), seq, key, clock: c });
}

/** key -> id of the winning event (tombstones included), for comparing views. */
export function viewAsObject(view: KvView): Record<string, string> {
  const out: Record<string, string> = {};
  for (const event of viewEntries(view)) out[event.key] = `${event.type}:${eventId(event)}`;
  return out;
}

/** key -> value of the live keys only: what clients can read. */
export function readableContents(view: KvView): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const event of viewEntries(view)) if (event.type === 'put') out[event.key] = event.value;
  return out;
}

export const arbClock: fc.Arbitrary<VectorClock> = fc
  .dictionary(fc.constantFrom(...ids), fc.integer({ min: 1, max: 6 }), { maxKeys: ids.length })
  .map((entries) => Object.freeze({ ...entries }) as VectorClock);

/** One step of a random causal history: a replica writes, or learns everything another has. */
export type HistoryStep =
  | { readonly kind: 'write'; readonly replica: number; readonly key: string; readonly deleted: boolean }
  | { readonly kind: 'sync'; readonly replica: number; readonly from: number };

export const arbHistoryStep: fc.Arbitrary<HistoryStep> = fc.oneof(
  fc.record({
    kind: fc.constant('write' as const),
    replica: fc.integer({ min: 0, max: 3 }),
    key: fc.constantFrom('a', 'b', 'c'),
    deleted: fc.boolean(),
  }),
  fc.record({ kind: fc.constant('sync' as const), replica: fc.integer({ min: 0, max: 3 }), from: fc.integer({ min: 0, max: 3 }) }),
);

export interface HistoryReplica {
  clock: VectorClock;
  /** Delivered events in a causal order. */
  delivered: KvEvent[];
}

/**
 * Runs a history over four replicas with causal delivery and returns each replica's delivered
 * events (each list causally ordered) and every event made.
 */
export function runHistory(steps: readonly HistoryStep[]): { replicas: HistoryReplica[]; events: KvEvent[] } {
  const replicas: HistoryReplica[] = ids.map(() => ({ clock: emptyClock, delivered: [] }));
  const events: KvEvent[] = [];
  let valueCounter = 0;
  for (const step of steps) {
    const r = replicas[step.replica]!;
    if (step.kind === 'write') {
      const origin = id(step.replica);
      const seq = (r.clock[origin] ?? 0) + 1;
      const c = Object.freeze({ ...r.clock, [origin]: seq }) as VectorClock;
      const event: KvEvent = step.deleted
        ? Object.freeze({ type: 'delete', origin, seq, key: step.key, clock: c })
        : Object.freeze({ type: 'put', origin, seq, key: step.key, value: ++valueCounter, clock: c });
      r.clock = c;
      r.delivered.push(event);
      events.push(event);
    } else if (step.from !== step.replica) {
      const source = replicas[step.from]!;
      for (const event of source.delivered) {
        if ((r.clock[event.origin] ?? 0) < event.seq) r.delivered.push(event);
      }
      r.clock = mergeClocks(r.clock, source.clock);
    }
  }
  return { replicas, events };
}

export const arbHistory = fc.array(arbHistoryStep, { minLength: 1, maxLength: 40 });

export const testLimits: Limits = { ...defaultLimits, pushBatchEventsMax: 50, snapshotChunkKeysMax: 3, pendingEventsMax: 1000 };

export const testSettings: ProtocolSettings = {
  ...defaultProtocolSettings,
  probeIntervalMs: 1000,
  suspectProbeIntervalMs: 250,
  probeMissesMax: 3,
  linkHoldDownMs: 5000,
  antiEntropyIntervalMs: 500,
};

/** Deterministic shuffle driven by fast-check's generated seed. */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let s = seed >>> 0;
  for (let i = out.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Asserts that `fn` throws a ValidationError (status 400 unless told) whose message matches. */
export function rejects(fn: () => unknown, message: RegExp, status = 400): void {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  if (thrown === undefined) assert.unreachable(`expected a ValidationError matching ${message}`);
  assert.instance(thrown, ValidationError);
  assert.is((thrown as ValidationError).status, status);
  assert.match((thrown as Error).message, message);
}

/**
 * One message across the wire as HTTP carries it: encoded by its rpc (events/peer-rpc.ts), as JSON
 * text, parsed by the receiver, answered by the receiving core's handle(), and the reply back the
 * same way. Bad input is answered with its status, as the HTTP layer does.
 */
export function deliver(target: Replica, message: PeerMessage, now: number, limits: Limits = testLimits): Outcome<PeerReply> {
  const rpc = rpcOf(message);
  const form = rpc.encode(message.request);
  const query = Object.fromEntries(new URL(form.path, 'http://unit.test').searchParams);
  try {
    const request = rpc.parseRequest({ query, body: form.body === undefined ? undefined : JSON.parse(JSON.stringify(form.body)) }, limits);
    const reply = target.handle({ rpc: message.rpc, request } as PeerMessage, now);
    return { ok: true, reply: rpc.parseReply(JSON.parse(JSON.stringify(reply)), limits) };
  } catch (error) {
    if (error instanceof ValidationError) return { ok: false, reason: `HTTP ${error.status}`, status: error.status };
    throw error;
  }
}

/** Who cannot talk to whom: `down` replicas neither poll nor answer; `isolated` ones work but reach only each other. */
export interface Reach {
  readonly down?: ReadonlySet<Address>;
  readonly isolated?: ReadonlySet<Address>;
}

/**
 * The unit suites' only way of moving messages between several cores, at one instant `now`: each
 * live replica's poll(), each Send delivered at once (deliver()), its outcome fed back through
 * onReply(), until no replica has anything more to send. A Send to a replica that is not in
 * `replicas`, is down, or is cut off times out. Returns every Send, in order.
 */
export function exchangeAll(replicas: readonly Replica[], now: number, reach: Reach = {}): Send[] {
  const down = reach.down ?? new Set<Address>();
  const isolated = reach.isolated ?? new Set<Address>();
  const byAddress = new Map(replicas.map((r) => [r.self, r]));
  const all: Send[] = [];
  for (let round = 0; round < 100; round++) {
    const before = all.length;
    for (const r of replicas) {
      if (down.has(r.self)) continue;
      for (const send of r.poll(now)) {
        all.push(send);
        const target = down.has(send.to) || isolated.has(r.self) !== isolated.has(send.to) ? undefined : byAddress.get(send.to);
        const outcome = target === undefined ? { ok: false as const, reason: `${send.message.rpc} timed out` } : deliver(target, send.message, now);
        r.onReply(send, exchangeOf(send.message, outcome), now);
      }
    }
    if (all.length === before) return all;
  }
  throw new Error('exchangeAll() did not quiesce');
}
