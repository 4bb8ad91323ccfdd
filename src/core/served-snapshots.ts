import type { SnapshotSource } from './snapshot-source.ts';

/** Snapshots being pulled by joiners, kept briefly so every chunk comes from one consistent cut. */
export class ServedSnapshots {
  private readonly served = new Map<string, { readonly source: SnapshotSource; readonly expiresAt: number }>();

  constructor(
    private readonly kept: number,
    private readonly ttlMs: number,
  ) {}

  add(source: SnapshotSource, now: number): void {
    this.expire(now);
    if (this.served.size >= this.kept) this.served.delete(this.served.keys().next().value!);
    this.served.set(source.snapshotId, { source, expiresAt: now + this.ttlMs });
  }

  /** The cut being served under this id, or undefined once it expired (the joiner starts again). */
  get(snapshotId: string, now: number): SnapshotSource | undefined {
    this.expire(now);
    return this.served.get(snapshotId)?.source;
  }

  private expire(now: number): void {
    for (const [id, served] of this.served) if (served.expiresAt < now) this.served.delete(id);
  }
}
