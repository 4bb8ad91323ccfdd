import { performance } from 'node:perf_hooks';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { Address } from '../../events/ids.ts';
import type { KvEvent } from '../../events/kv-event.ts';
import type { PushReply } from '../../events/peer-messages.ts';
import type { Outcome } from '../../events/peer-rpc.ts';
import type { ReplicaDescription } from '../core/replica.ts';
import { BoundedQueue } from './bounded-queue.ts';
import { RequestStats } from './request-stats.ts';
import { HistogramSeries, registerHistogram } from './scraped-histogram.ts';
import { registerStorageMetrics } from './storage-metrics.ts';
import type { DurableLogDescription } from '../storage/durable-log.ts';
import type { NodeHost } from '../node/node-host.ts';

/** Local writes waiting for their first peer acknowledgement; beyond this the oldest is forgotten. */
const unackedWritesMax = 10_000;
/** A scrape reads the peers' table once, however many gauges use it. */
const peersTableTtlMs = 100;

const latencyBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const replicationBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

const methods = new Set(['GET', 'PUT', 'POST', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH']);

/**
 * The Prometheus metrics of one replica, in a registry of its own (several apps in one test
 * process do not collide). Per request there are only the request counter and latency
 * observations; every gauge is read from the node when Prometheus scrapes (`collect()`).
 *
 * Replication lag. Events carry no wall-clock time, and clocks of different machines are not
 * comparable anyway, so "time from an event's creation at its origin until it is delivered here"
 * cannot be measured honestly on the receiving side without adding a timestamp to the wire format
 * (and trusting synchronised clocks). Instead both measures are taken on one machine, with one
 * monotonic clock, at the origin:
 *  - `kvs_replication_write_ack_seconds`: from a local write until the first push reply in which a
 *    peer's delivered clock covers it. This is the replication lag a client of this replica feels
 *    (its PUT is answered at that moment, or when no peer is reachable), and it grows when peers are
 *    slow, cut off or held down, which is what an operator wants to see.
 *  - `kvs_replication_push_round_trip_seconds`: each push of events to a peer, from send to answer,
 *    by result (accepted, held down, failed). Latency of the link plus the peer's delivery work.
 * How far behind each peer is right now is the gauge `kvs_peer_lacks_events`.
 */
export class NodeMetrics {
  readonly registry = new Registry();
  private readonly requestStats = new RequestStats(latencyBuckets);
  /** Observed on every push and every write: counted in place, not with prom-client's observe() (see HistogramSeries). */
  private readonly pushRoundTrip = {
    accepted: new HistogramSeries({ result: 'accepted' }, replicationBuckets),
    held_down: new HistogramSeries({ result: 'held_down' }, replicationBuckets),
    failed: new HistogramSeries({ result: 'failed' }, replicationBuckets),
  };
  private readonly writeAck = new HistogramSeries({}, replicationBuckets);
  /** Sharded store: client requests forwarded to the shard that holds their key, by result (answered, unavailable). */
  private readonly forwardedRequests = {
    answered: new HistogramSeries({ result: 'answered' }, latencyBuckets),
    unavailable: new HistogramSeries({ result: 'unavailable' }, latencyBuckets),
  };
  /** Own writes not yet acknowledged by any peer, oldest first: [seq, performance.now() at write]. */
  private readonly unacked = new BoundedQueue<readonly [seq: number, at: number]>(unackedWritesMax);
  private peersTable: { at: number; peers: ReplicaDescription['peers'] } | undefined;

  /** `describeStorage`: the durable log's description (with DATA_DIR); its kvs_storage_* metrics are registered only then. */
  constructor(
    private readonly host: NodeHost,
    describeStorage?: () => DurableLogDescription,
  ) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });

    this.requestStats.register(
      this.registry,
      'kvs_http_requests_total',
      'HTTP requests answered, by method, route (/kvs/:key for every key) and status',
      'kvs_http_request_duration_seconds',
      'Time to answer an HTTP request, by method and route (includes causal waits and the write acknowledgement wait)',
    );
    const roundTrips = Object.values(this.pushRoundTrip);
    registerHistogram(
      this.registry,
      'kvs_replication_push_round_trip_seconds',
      'Push of events to a peer, from send to answer, by result (accepted, held_down, failed)',
      () => roundTrips,
    );
    const forwarded = Object.values(this.forwardedRequests);
    registerHistogram(
      this.registry,
      'kvs_forwarded_request_seconds',
      'Sharded store: client requests forwarded to a member of the shard that holds the key, from forwarding to its answer, by result (answered, unavailable: no member answered)',
      () => forwarded,
    );
    registerHistogram(
      this.registry,
      'kvs_replication_write_ack_seconds',
      "Replication lag seen at the origin: from a local write until a peer's push reply first shows it delivered",
      () => [this.writeAck],
    );

    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read());
        },
      });
    /** A counter kept by the node or the core, copied at scrape time. */
    const mirroredCounter = (name: string, help: string, read: () => number) =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(read());
        },
      });

    gauge('kvs_log_events', 'Events in the operation log (stable events are compacted away)', () => host.node.core.logLength);
    gauge('kvs_pending_events', 'Events received but waiting for their causal past (pending buffer)', () => host.node.core.pendingSize);
    gauge('kvs_live_keys', 'Keys whose winning version is a put', () => host.node.core.liveKeys);
    gauge('kvs_tombstones', 'Keys whose winning version is a delete, not yet collected', () => host.node.core.viewSnapshot().tombstones);
    gauge('kvs_view_members', 'Replicas in this replica\'s view, itself included', () => host.node.core.view().length);
    gauge('kvs_peers_up', 'Peers in the view whose link is up (not failing, not held down)', () =>
      this.peers().filter((peer) => peer.inView && peer.link.state === 'up').length,
    );
    gauge('kvs_peers_held_down', 'Peers whose link is held down (no events flow either way)', () =>
      this.peers().filter((peer) => peer.link.state === 'held-down').length,
    );
    const peers = () => this.peers();
    new Gauge({
      name: 'kvs_peer_lacks_events',
      help: 'Events delivered here that a peer in the view has not acknowledged, by peer',
      labelNames: ['peer'],
      registers,
      collect() {
        this.reset();
        for (const peer of peers()) if (peer.inView) this.set({ peer: peer.address }, peer.lacksEvents);
      },
    });

    mirroredCounter('kvs_events_delivered_total', 'Events delivered here since start (own writes and received)', () => host.node.core.deliveredCount);
    mirroredCounter('kvs_unsatisfied_dependencies_total', 'Client requests answered 503: causal dependencies not delivered in time', () => host.node.counters.unsatisfied503);
    mirroredCounter('kvs_pushes_total', 'Pushes of events sent to peers', () => host.node.counters.pushesSent);
    mirroredCounter('kvs_push_failures_total', 'Pushes that failed (timeout, refused, unreachable)', () => host.node.counters.pushFailures);
    mirroredCounter('kvs_events_pushed_total', 'Events sent in pushes (an event re-sent after a loss counts again)', () => host.node.counters.eventsPushed);
    if (describeStorage !== undefined) registerStorageMetrics(this.registry, describeStorage);
  }

  /** One answered request; `route` is already normalized (see routeLabel). */
  observeRequest(method: string, route: string, status: number, seconds: number): void {
    this.requestStats.observe(methods.has(method) ? method : 'other', route, status, seconds);
  }

  /** Hook: an own write was just made. */
  localWrite(event: KvEvent): void {
    this.unacked.push([event.seq, performance.now()]);
  }

  /** Hook: a push to `to` ended after `roundTripMs`. */
  /** A client request forwarded to another shard: answered by a member, or by none (503). */
  forwarded(answered: boolean, seconds: number): void {
    this.forwardedRequests[answered ? 'answered' : 'unavailable'].observe(seconds);
  }

  pushOutcome(to: Address, outcome: Outcome<PushReply>, roundTripMs: number): void {
    const result = !outcome.ok ? 'failed' : outcome.reply.type === 'held-down' ? 'held_down' : 'accepted';
    this.pushRoundTrip[result].observe(roundTripMs / 1000);
    if (outcome.ok && outcome.reply.from === to) this.acknowledged(outcome.reply.clock[this.host.node.core.id] ?? 0);
  }

  /** A peer has delivered our own events up to `seq`. */
  private acknowledged(seq: number): void {
    const now = performance.now();
    for (let oldest = this.unacked.peek(); oldest !== undefined && oldest[0] <= seq; oldest = this.unacked.peek()) {
      this.writeAck.observe((now - oldest[1]) / 1000);
      this.unacked.shift();
    }
  }

  private peers(): ReplicaDescription['peers'] {
    const now = performance.now();
    if (this.peersTable === undefined || now - this.peersTable.at > peersTableTtlMs) {
      this.peersTable = { at: now, peers: this.host.node.describe().peers };
    }
    return this.peersTable.peers;
  }
}
