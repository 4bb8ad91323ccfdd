// The simulated network: every peer message crosses it as JSON, encoded and parsed by the real rpc
// table (events/peer-rpc.ts), as HTTP would carry it. It delays, drops, duplicates, reorders and
// partitions; a request to a replica that is down is refused; the sender hears exactly one outcome
// (or none if it died meanwhile), as a real HTTP client with a timeout would.
import type { Address } from '../../events/ids.ts';
import type { Limits } from '../../events/limits.ts';
import { rpcOf, type Outcome, type PeerMessage, type PeerReply } from '../../events/peer-rpc.ts';
import { ValidationError } from '../../events/validation-error.ts';
import type { VectorClock } from '../../events/vector-clock.ts';
import type { Transport } from '../../src/node/transport.ts';
import type { Random } from '../support/random.ts';
import type { SimStats } from './report.ts';

/** What the network needs of the world around it. */
export interface NetworkWorld {
  readonly now: number;
  schedule(at: number, run: () => void): void;
  trace(line: string): void;
  /** The live node at an address, or undefined when it is down. */
  receiverAt(address: Address): SimReceiver | undefined;
}

/** A live node as the network reaches it. */
export interface SimReceiver {
  /** Answers through `answer`, at once or later (a push waits for storage), or never (the life ended first); bad input throws. */
  handle(message: PeerMessage, answer: (reply: PeerReply) => void): void;
  covers(clock: VectorClock): boolean;
}

export interface NetworkTimeouts {
  readonly requestTimeoutMs: number;
  readonly probeTimeoutMs: number;
}

export class SimNetwork {
  private readonly cut = new Map<string, number>();
  dropRate: number;
  dupRate: number;
  longDelayRate: number;
  /** Snapshots pushed, per receiving address. */
  readonly snapshotsTo = new Map<Address, number>();

  constructor(
    private readonly world: NetworkWorld,
    private readonly random: Random,
    private readonly limits: Limits,
    private readonly timeouts: NetworkTimeouts,
    private readonly stats: SimStats,
    rates: { dropRate: number; dupRate: number; longDelayRate: number },
  ) {
    this.dropRate = rates.dropRate;
    this.dupRate = rates.dupRate;
    this.longDelayRate = rates.longDelayRate;
  }

  /** A transport for one life of the replica at `from`; it goes silent once `alive()` is false. */
  transportFor(from: Address, alive: () => boolean): Transport {
    let closed = false;
    return {
      send: (to, message, timeoutMs, done) => {
        if (!closed) this.request(from, to, message, timeoutMs, (outcome) => !closed && alive() && done(outcome));
      },
      close: () => {
        closed = true;
      },
    };
  }

  /** Ends every fault: links heal, nothing is lost or duplicated any more. */
  heal(): void {
    this.cut.clear();
    this.dropRate = 0;
    this.dupRate = 0;
    this.longDelayRate = 0;
  }

  linkUp(a: Address, b: Address): boolean {
    return !this.cut.has(pairKey(a, b));
  }

  /** Cuts every link between the two groups for `durationMs`. */
  partition(group: readonly Address[], others: readonly Address[], durationMs: number, label: string): void {
    this.stats.partitions++;
    const pairs: string[] = [];
    for (const a of group) {
      for (const b of others) {
        if (a === b) continue;
        const key = pairKey(a, b);
        pairs.push(key);
        this.cut.set(key, (this.cut.get(key) ?? 0) + 1);
      }
    }
    this.world.trace(`partition ${label} for ${durationMs} ms`);
    this.world.schedule(this.world.now + durationMs, () => {
      for (const key of pairs) {
        const count = (this.cut.get(key) ?? 0) - 1;
        if (count > 0) this.cut.set(key, count);
        else this.cut.delete(key);
      }
      this.world.trace(`partition ${label} heals`);
    });
  }

  private delay(): number {
    return this.random.chance(this.longDelayRate) ? this.random.int(200, 1500) : this.random.int(1, 40);
  }

  /** One request and its reply, each way as JSON text, parsed at the other end by the rpc table. */
  private request(from: Address, to: Address, message: PeerMessage, timeoutMs: number | undefined, done: (outcome: Outcome<PeerReply>) => void): void {
    const world = this.world;
    const rpc = rpcOf(message);
    const form = rpc.encode(message.request);
    const requestText = form.body === undefined ? undefined : JSON.stringify(form.body);
    const query = Object.fromEntries(new URL(form.path, 'http://sim').searchParams);
    this.stats.messages++;
    this.count(to, message);
    const rpcTimeoutMs = rpc.timeout === 'probe' ? this.timeouts.probeTimeoutMs : this.timeouts.requestTimeoutMs;
    const timeoutAt = world.now + Math.min(rpcTimeoutMs, timeoutMs ?? rpcTimeoutMs);
    let settled = false;
    const settle = (at: number, outcome: Outcome<PeerReply>) => {
      world.schedule(Math.max(at, world.now), () => {
        if (settled) return;
        settled = true;
        done(outcome);
      });
    };
    const timeout = (why: string) => settle(timeoutAt, { ok: false, reason: `${message.rpc} timed out (${why})` });
    const arrive = (primary: boolean) => {
      if (!this.linkUp(from, to)) {
        if (primary) timeout('link cut');
        return;
      }
      const receiver = world.receiverAt(to);
      if (receiver === undefined) {
        if (primary) settle(Math.min(world.now + this.delay(), timeoutAt), { ok: false, reason: `${message.rpc} refused: ECONNREFUSED` });
        return;
      }
      if (message.rpc === 'snapshot-push' && message.request.index === 0 && receiver.covers(message.request.clock)) this.stats.snapshotsRedundant++;
      let answered = false;
      try {
        const request = rpc.parseRequest({ query, body: requestText === undefined ? undefined : JSON.parse(requestText) }, this.limits);
        receiver.handle({ rpc: message.rpc, request } as PeerMessage, (reply) => {
          answered = true;
          if (primary) answerBack(JSON.stringify(reply));
        });
      } catch (error) {
        // Bad input is answered with its status, as the HTTP layer does; anything else is a bug and fails the run.
        if (!(error instanceof ValidationError) || answered) throw error;
        if (primary) settle(world.now + this.delay(), { ok: false, reason: `HTTP ${error.status}`, status: error.status });
        return;
      }
      // Answered later, or never (the receiver died first): the sender's timeout covers the wait.
      if (primary && !answered) timeout('no answer yet');
    };
    const answerBack = (replyText: string) => {
      if (this.random.chance(this.dropRate)) {
        this.stats.dropped++;
        timeout('reply lost');
        return;
      }
      const back = world.now + this.delay();
      if (back > timeoutAt) {
        timeout('reply too late');
        return;
      }
      world.schedule(back, () => {
        if (!this.linkUp(from, to)) return timeout('link cut on the way back');
        const reply = rpc.parseReply(JSON.parse(replyText), this.limits);
        if (message.rpc !== 'probe' && typeof reply === 'object' && 'type' in reply && reply.type === 'held-down') this.stats.heldDownReplies++;
        settle(world.now, { ok: true, reply });
      });
    };
    if (this.random.chance(this.dropRate)) {
      this.stats.dropped++;
      timeout('request lost');
    } else {
      world.schedule(world.now + this.delay(), () => arrive(true));
    }
    if (this.random.chance(this.dupRate)) {
      this.stats.duplicated++;
      world.schedule(world.now + this.random.int(1, 2500), () => arrive(false));
    }
  }

  private count(to: Address, message: PeerMessage): void {
    if (message.rpc === 'snapshot-push' && message.request.index === 0) {
      this.stats.snapshotsPushed++;
      this.snapshotsTo.set(to, (this.snapshotsTo.get(to) ?? 0) + 1);
    }
    if (message.rpc === 'snapshot-pull') this.stats.joinChunks++;
    if (message.rpc === 'push' && message.request.custody === true) this.stats.custodyPushes++;
  }
}

function pairKey(a: Address, b: Address): string {
  return a < b ? `${a}|${b}` : `${b}|${a}`;
}
