/**
 * The health of the link to one peer, as seen from this replica, and its hold-down (flap damping):
 * after a failure on a link that had been up, no events flow on it, in either direction, until
 * `holdDownMs` has passed since the last failure. Probes go on meanwhile. A link that has never
 * been up since the peer's current life announced itself is not held down: nothing flapped, it
 * simply was not there yet (replicas of one cluster start a few hundred ms apart).
 */
export class LinkState {
  private everUp = false;
  private heldUntil = 0;
  private clearedAt = Number.NEGATIVE_INFINITY;
  lastFailureAt: number | undefined;
  lastFailureReason: string | undefined;
  lastSuccessAt: number | undefined;

  constructor(private readonly holdDownMs: number) {}

  isHeldDown(now: number): boolean {
    return now < this.heldUntil;
  }

  heldDownRemainingMs(now: number): number {
    return Math.max(0, this.heldUntil - now);
  }

  recordSuccess(now: number): void {
    this.everUp = true;
    this.lastSuccessAt = now;
  }

  /**
   * A probe or push failed. `startedAt` is when it was sent: a failure of a request sent before the
   * peer's new life announced itself says nothing about the new life, so it is ignored.
   */
  recordFailure(now: number, startedAt: number, reason: string): void {
    if (startedAt < this.clearedAt) return;
    this.lastFailureAt = now;
    this.lastFailureReason = reason;
    if (this.everUp) this.heldUntil = Math.max(this.heldUntil, now + this.holdDownMs);
  }

  /**
   * The peer refused our events because it holds this link down for `remainingMs` more. We stay
   * quiet for exactly that long, not a full hold-down of our own: otherwise two replicas that both
   * have events for each other would re-arm each other's hold-down forever.
   */
  recordPeerHeldDown(now: number, remainingMs: number): void {
    this.lastFailureAt = now;
    this.lastFailureReason = 'peer holds the link down';
    this.heldUntil = Math.max(this.heldUntil, now + remainingMs);
  }

  /** The peer announced a new life (`PUT /view` from a new incarnation): start afresh. */
  clear(now: number): void {
    this.heldUntil = 0;
    this.clearedAt = now;
    this.everUp = true;
    this.lastSuccessAt = now;
  }

  private state(now: number): LinkDescription['state'] {
    if (this.isHeldDown(now)) return 'held-down';
    if (this.lastFailureAt !== undefined && (this.lastSuccessAt ?? Number.NEGATIVE_INFINITY) < this.lastFailureAt) return 'failing';
    return 'up';
  }

  describe(now: number): LinkDescription {
    return {
      state: this.state(now),
      heldDownRemainingMs: this.heldDownRemainingMs(now),
      lastFailureAgoMs: this.lastFailureAt === undefined ? null : now - this.lastFailureAt,
      lastFailureReason: this.lastFailureReason ?? null,
      lastSuccessAgoMs: this.lastSuccessAt === undefined ? null : now - this.lastSuccessAt,
    };
  }
}

export interface LinkDescription {
  readonly state: 'up' | 'failing' | 'held-down';
  readonly heldDownRemainingMs: number;
  readonly lastFailureAgoMs: number | null;
  readonly lastFailureReason: string | null;
  readonly lastSuccessAgoMs: number | null;
}
