import type { ProtocolSettings } from './protocol-settings.ts';

/**
 * Probing one peer (etcd's `tracker.Progress` has the same shape for its followers): when the next
 * probe is due, whether one is in flight, and how many in a row went unanswered. It only counts;
 * the replica decides what a run of misses means for the view.
 */
export class FailureDetector {
  misses = 0;
  probeInFlight = false;
  nextProbeAt: number;

  constructor(
    private readonly settings: ProtocolSettings,
    now: number,
  ) {
    this.nextProbeAt = now;
  }

  /** Takes the probe that is due now, if any. */
  takeProbe(now: number): boolean {
    if (this.probeInFlight || now < this.nextProbeAt) return false;
    this.probeInFlight = true;
    return true;
  }

  /** When a probe may next be taken, or undefined while one is in flight. */
  dueAt(): number | undefined {
    return this.probeInFlight ? undefined : this.nextProbeAt;
  }

  onAnswer(now: number): void {
    this.probeInFlight = false;
    this.misses = 0;
    this.nextProbeAt = now + this.settings.probeIntervalMs;
  }

  /**
   * A probe went unanswered. `counts` is false for a probe sent before the peer's last success (it
   * says nothing new). Returns true when this miss makes the peer suspected.
   */
  onMiss(now: number, counts: boolean): boolean {
    this.probeInFlight = false;
    this.nextProbeAt = now + this.settings.suspectProbeIntervalMs;
    if (!counts) return false;
    this.misses++;
    return this.misses >= this.settings.probeMissesMax;
  }

  /** Another answer (a push's) proved the peer alive: under load, pushes stand in for probes. */
  onOtherAnswer(now: number): void {
    this.misses = 0;
    if (!this.probeInFlight) this.nextProbeAt = Math.max(this.nextProbeAt, now + this.settings.probeIntervalMs);
  }

  /** Something failed on the link: probe at once rather than wait for the interval. */
  probeBy(at: number): void {
    this.nextProbeAt = Math.min(this.nextProbeAt, at);
  }

  /** The peer announced a new life: start afresh, next probe after one interval. */
  restart(now: number): void {
    this.misses = 0;
    this.nextProbeAt = now + this.settings.probeIntervalMs;
  }
}
