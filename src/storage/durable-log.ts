import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseIncarnation } from '../../events/ids.ts';
import type { KvEvent } from '../../events/kv-event.ts';
import { defaultLimits } from '../../events/limits.ts';
import { Fifo } from '../core/fifo.ts';
import type { Logger } from '../node/logger.ts';
import type { Storage, StoredSnapshot, StoredState } from '../node/storage.ts';
import { lockDataDir, type DataDirLock } from './data-dir-lock.ts';
import { readOrCreateMeta, writeMeta } from './data-dir-meta.ts';
import { nodeFileSystem, removeFile, syncDirectory, writeFully, type FileLike, type FileSystem } from './file-system.ts';
import { LatencyHistogram, type HistogramJson } from './latency-histogram.ts';
import { batchPayloads, encodeRecordInto, recordHeaderBytes } from './record-codec.ts';
import { recover, type RecoveryReport } from './recovery.ts';
import { segmentName, snapshotName } from './segment-files.ts';
import { preallocationEnd, writeZeros } from './segment-preallocation.ts';
import { prepareSnapshot, writeSnapshotFile, type PreparedSnapshot } from './snapshot-file.ts';
import { attempt, describeIoFailure, ioError, StorageIoError } from './storage-errors.ts';

export interface DurableLogOptions {
  /** 'batch': a flush is answered once its bytes are fdatasync'ed (group commit); 'off': once write() handed them to the OS. */
  readonly fsync: 'batch' | 'off';
  readonly log: Logger;
  /** Makes a new incarnation; called only when the DATA_DIR has none yet, or recovery found damage. */
  readonly incarnation: () => string;
  /** A segment is rotated before it grows past this (default 64 MiB). */
  readonly segmentBytesMax?: number;
  /** Most bytes appended but not yet known written (and fsynced) to hold in memory (default 64 MiB). See append(). */
  readonly queueBytesMax?: number;
  /** wantsSnapshot() once the segments since the last snapshot hold more than max(this, 2 x its size) bytes (default 4 MiB). */
  readonly snapshotBytesMin?: number;
  /** After a failed write or fsync, how long before the next try (default 500 ms). */
  readonly retryMs?: number;
  /** How long close() waits for what is queued to be written (default 5 s). */
  readonly closeTimeoutMs?: number;
  /** Events read back are re-validated with this bound (default: events/limits.ts). */
  readonly clockEntriesMax?: number;
  /** The file system (default node:fs/promises); tests inject faults through it. */
  readonly fs?: FileSystem;
}

export interface OpenedLog {
  readonly storage: DurableLog;
  /**
   * The incarnation this node is to run as: the DATA_DIR's (meta.json), or a new one when there was
   * none, or when recovery found damage (events the old life handed out may be lost, so reusing its
   * sequence numbers could give two different events one identity). meta.json already says so.
   */
  readonly incarnation: string;
  readonly incarnationSource: 'read' | 'created' | 'replaced-after-damage';
  readonly state: StoredState;
  readonly recovery: RecoveryReport;
}

/** What describe() answers: plain JSON, for /debug/state and metrics. */
export interface DurableLogDescription {
  readonly dir: string;
  readonly fsync: 'batch' | 'off';
  readonly diskBytes: number;
  readonly segments: number;
  readonly bytesSinceSnapshot: number;
  /** Appended but not yet written (and fsynced), held in memory. */
  readonly queuedBytes: number;
  /** agoMs is null for a snapshot found at start whose age is unknown. */
  readonly lastSnapshot: { readonly number: number; readonly bytes: number; readonly agoMs: number | null } | null;
  readonly fsyncs: HistogramJson;
  readonly unavailable: string | null;
  readonly recovery: RecoveryReport;
}

const MiB = 1024 * 1024;
/** Most bytes gathered into one write(). */
const writeBytesMax = 4 * MiB;
/** Size of the buffer gathered records are encoded into, reused once what it holds is fsynced (see arenaSlice). */
const arenaBytes = 256 * 1024;
/** Steps of one pump run before it yields with setImmediate (each step awaits I/O anyway). */
const stepsPerRun = 10_000;
/**
 * FSYNC=batch: event-loop turns the pump lets pass (setImmediate) once a flush waits on what is
 * written, before it fdatasyncs; records appended meanwhile are written first and join the same
 * fdatasync. Why: on a busy node every fdatasync costs far more than its syscall (each group's
 * answers, push replies and wake-ups; measured: doubling the fdatasyncs per write added ~25% CPU
 * per write to a 3-replica cluster), while a turn takes only as long as the work already waiting
 * in it (about nothing when idle), so the groups grow with the load and the latency hardly moves.
 * Measured (3 replicas, 48 writers, 5 paired runs, medians): 4 turns gave 0.137 -> 0.103
 * fdatasyncs per write, 0.94x server CPU per write, 1.06x writes/s (1, 2 turns gained less; 8, 16
 * no more than 4). Nothing is answered earlier than before: a flush
 * is still answered only by an fdatasync that covers it.
 */
const turnsBeforeSync = 4;

interface RecordsOp {
  readonly kind: 'records';
  readonly index: number;
  /** The JSON payload of each record, and its UTF-8 bytes: encoded (record-codec.ts) only when gathered, into one buffer for the write. */
  readonly payloads: readonly string[];
  readonly payloadBytes: readonly number[];
  /** The records' bytes, headers included. */
  readonly bytes: number;
}

interface SnapshotOp {
  readonly kind: 'snapshot';
  readonly index: number;
  readonly prepared: PreparedSnapshot;
  /** Assigned when the segment is rotated for it: the snapshot covers every segment numbered below. */
  number: number | undefined;
}

type Op = RecordsOp | SnapshotOp;

/** Gathered records being written (kept until written: a failed write is retried with the same bytes at the same place). */
interface Batch {
  readonly data: Buffer;
  readonly position: number;
  readonly lastIndex: number;
  /** FSYNC=batch: the zeros written after it to grow the segment (segment-preallocation.ts) end here; written again with it. */
  readonly zeroedTo?: number;
}

interface Segment {
  readonly number: number;
  readonly name: string;
  handle: FileLike | undefined;
  /** True once its creation was tried (a retry may then find the file there). */
  created: boolean;
  /** FSYNC=batch: the directory entry is durable. */
  dirSynced: boolean;
  /** Where its records end. */
  bytes: number;
  /** FSYNC=batch: the file's size, grown ahead of the records with zeros (segment-preallocation.ts). */
  allocated: number;
  /** The disk could not take the zeros once: not tried again for this segment. */
  growthFailed: boolean;
}

interface Waiter {
  readonly target: number;
  readonly done: (error: Error | undefined) => void;
}

function answer(done: (error: Error | undefined) => void, error: Error | undefined): void {
  try {
    done(error);
  } catch (thrown) {
    // A throwing callback is the caller's bug: let it surface as such, not as a storage failure.
    process.nextTick(() => {
      throw thrown;
    });
  }
}

/**
 * The durable operation log behind the node's Storage seam (src/node/storage.ts), in a DATA_DIR:
 *
 * - append() encodes the batch into records ([u32 length][u32 CRC-32C][JSON], record-codec.ts) and
 *   queues them; one pump writes the queue in order, many records per write(), at known offsets
 *   (positional writes), never blocking the event loop. Every op (batch, snapshot) gets an index;
 *   the disk always holds a prefix of the ops, so recovery never sees a gap this process made.
 * - flush() waits for everything appended before it. FSYNC=batch: the pump fdatasyncs once for all
 *   the flushes waiting (group commit: flushes queued during an fsync, or in the few event-loop
 *   turns it lets pass first (turnsBeforeSync), are answered by the next one);
 *   off: answered once write() has returned.
 * - snapshot() rotates the segment, writes snapshot-<n>.json (temp, fsync, rename, directory
 *   fsync), then deletes the segments and snapshots it covers. Anything queued and not yet being
 *   written when it is called is dropped: the snapshot covers it.
 * - A failed write or fsync (disk full, EIO, read-only...) sets `unavailable`, answers the waiting
 *   flushes with its reason, keeps the appended bytes and retries every retryMs; once a retry
 *   succeeds, `unavailable` is cleared. After a failed fdatasync the bytes written since the last
 *   good one are written again before the next fdatasync (the kernel may have dropped them).
 *
 * Bounded queue: past queueBytesMax bytes held in memory, the batches queued (not yet being
 * written) are dropped and further appends are not queued until the next snapshot() — which covers
 * them — is written whole; meanwhile `unavailable` says so, flushes are answered with that error
 * and wantsSnapshot() is true. Because nothing after the dropped batches reaches a segment before
 * that snapshot is durable, the disk still holds a prefix of the history.
 */
export class DurableLog implements Storage {
  private readonly fs: FileSystem;
  private readonly log: Logger;
  private readonly segmentBytesMax: number;
  private readonly queueBytesMax: number;
  private readonly snapshotBytesMin: number;
  private readonly retryMs: number;
  private readonly closeTimeoutMs: number;
  private readonly unsyncedBytesMax: number;

  /** Index of the last op (batch or snapshot) handed in. */
  private index = 0;
  /** Every op up to this index is written (and, FSYNC=batch, fsynced). */
  private durableIndex = 0;
  /** Every op up to this index is written. */
  private writtenIndex = 0;
  private readonly queue = new Fifo<Op>();
  private queuedBytes = 0;
  private inFlight: Batch | undefined;
  private currentSnapshot: SnapshotOp | undefined;
  private segment: Segment;
  /** FSYNC=batch: bytes written to the current segment since its last fdatasync, kept to be written again if that fails. */
  private retained: Batch[] = [];
  private retainedBytes = 0;
  private rewriteNeeded = false;
  private syncNeeded = false;
  /** Turns let pass since the last fdatasync (see turnsBeforeSync). */
  private turnsWaited = 0;
  private readonly waiters = new Fifo<Waiter>();
  /** See arenaSlice(). */
  private arena = Buffer.allocUnsafeSlow(arenaBytes);
  private arenaUsed = 0;

  private failure: string | undefined;
  /** The highest op index dropped (or not queued) for lack of room; a snapshot above it clears the overflow. */
  private overflowThrough = 0;
  /** Index of the last snapshot op written whole. */
  private coveredIndex = 0;
  /** Index of the newest snapshot op handed in (written or not). */
  private snapshotIndex = 0;
  private bytesSinceSnapshot: number;
  private lastSnapshot: { number: number; bytes: number; at: number | undefined } | undefined;
  private readonly segmentBytes: Map<number, number>;
  private readonly snapshotBytes = new Map<number, number>();
  private readonly fsyncLatency = new LatencyHistogram();

  private pumping = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private idleWaiters: (() => void)[] = [];
  private closing = false;
  private closed = false;
  private closePromise: Promise<void> | undefined;

  private constructor(
    private readonly dir: string,
    private readonly fsyncMode: 'batch' | 'off',
    private readonly lock: DataDirLock,
    private readonly recovery: RecoveryReport,
    recovered: { segmentBytes: Map<number, number>; snapshot: { number: number; bytes: number; mtimeMs: number | undefined } | undefined; nextSegment: number },
    options: DurableLogOptions,
  ) {
    this.fs = options.fs ?? nodeFileSystem;
    this.log = options.log;
    this.segmentBytesMax = options.segmentBytesMax ?? 64 * MiB;
    this.queueBytesMax = options.queueBytesMax ?? 64 * MiB;
    this.snapshotBytesMin = options.snapshotBytesMin ?? 4 * MiB;
    this.retryMs = options.retryMs ?? 500;
    this.closeTimeoutMs = options.closeTimeoutMs ?? 5000;
    this.unsyncedBytesMax = Math.min(16 * MiB, Math.max(1, Math.floor(this.queueBytesMax / 4)));
    this.segmentBytes = recovered.segmentBytes;
    this.bytesSinceSnapshot = [...recovered.segmentBytes.values()].reduce((a, b) => a + b, 0);
    if (recovered.snapshot !== undefined) {
      this.snapshotBytes.set(recovered.snapshot.number, recovered.snapshot.bytes);
      this.lastSnapshot = { number: recovered.snapshot.number, bytes: recovered.snapshot.bytes, at: recovered.snapshot.mtimeMs };
    }
    this.segment = this.newSegment(recovered.nextSegment);
  }

  /**
   * Opens (creating if need be) and locks `dir`, reads or creates meta.json, and recovers what the
   * directory holds. Throws DataDirLockedError when another live process holds the dir, and a
   * StorageIoError when it cannot be read or written.
   */
  static async open(dir: string, options: DurableLogOptions): Promise<OpenedLog> {
    const started = performance.now();
    if (options.fsync !== 'batch' && options.fsync !== 'off') throw new Error(`fsync must be 'batch' or 'off', not ${JSON.stringify(options.fsync)}`);
    for (const [name, value, min] of [
      ['segmentBytesMax', options.segmentBytesMax, 4096],
      ['queueBytesMax', options.queueBytesMax, 4096],
      ['snapshotBytesMin', options.snapshotBytesMin, 0],
      ['retryMs', options.retryMs, 1],
      ['closeTimeoutMs', options.closeTimeoutMs, 0],
    ] as const) {
      if (value !== undefined && (!Number.isSafeInteger(value) || value < min)) throw new Error(`${name} must be an integer >= ${min}, not ${value}`);
    }
    const fs = options.fs ?? nodeFileSystem;
    const log = options.log;
    await attempt('creating', dir, () => fs.mkdir(dir));
    const lock = await lockDataDir(fs, dir, log);
    try {
      const meta = await readOrCreateMeta(fs, dir, options.incarnation, log);
      const recovered = await recover(fs, dir, { clockEntriesMax: options.clockEntriesMax ?? defaultLimits.clockEntriesMax, log });
      let incarnation = meta.incarnation;
      let incarnationSource: OpenedLog['incarnationSource'] = meta.source;
      if (recovered.report.damage.length > 0 && meta.source === 'read') {
        incarnation = parseIncarnation(options.incarnation());
        incarnationSource = 'replaced-after-damage';
        await writeMeta(fs, dir, incarnation);
      }
      // Only now that the new incarnation is durable may the damage disappear from view.
      await recovered.quarantine();
      let snapshotMtime: number | undefined;
      if (recovered.snapshot !== undefined) {
        snapshotMtime = await fs.stat(join(dir, snapshotName(recovered.snapshot.number))).then(
          (s) => s.mtimeMs,
          () => undefined,
        );
      }
      const report: RecoveryReport = { ...recovered.report, durationMs: Math.round((performance.now() - started) * 10) / 10 };
      log.info(
        {
          event: 'storage-recovered',
          dir,
          fsync: options.fsync,
          snapshot: report.snapshot?.file ?? null,
          snapshotEntries: report.snapshot?.entries ?? 0,
          segments: report.segmentsReplayed,
          records: report.records,
          events: report.events,
          tornBytesCut: report.tornTail?.bytesCut ?? 0,
          damaged: report.damage.length,
          durationMs: report.durationMs,
          incarnation,
          incarnationSource,
        },
        `recovered ${dir}: ${report.events} events in ${report.records} records${report.snapshot ? ` after ${report.snapshot.file}` : ''}` +
          `${report.tornTail ? `, torn tail of ${report.tornTail.bytesCut} bytes cut` : ''}${report.damage.length > 0 ? `, ${report.damage.length} damaged` : ''}`,
      );
      const storage = new DurableLog(
        dir,
        options.fsync,
        lock,
        report,
        { segmentBytes: recovered.segmentBytes, snapshot: recovered.snapshot && { ...recovered.snapshot, mtimeMs: snapshotMtime }, nextSegment: recovered.nextSegment },
        options,
      );
      return { storage, incarnation, incarnationSource, state: recovered.state, recovery: report };
    } catch (error) {
      await lock.release();
      throw error;
    }
  }

  // ------------------------------------------------------------------ Storage

  get unavailable(): string | undefined {
    if (this.failure !== undefined) return this.failure;
    if (this.overflowed()) return `write queue full (over ${Math.round(this.queueBytesMax / MiB)} MiB not yet written): waiting for a snapshot`;
    return undefined;
  }

  append(events: readonly KvEvent[]): void {
    if (this.closing || events.length === 0) return;
    const index = ++this.index;
    if (this.overflowed() && this.snapshotIndex <= this.overflowThrough) {
      // Not queued: the next snapshot covers it.
      this.overflowThrough = index;
      return;
    }
    const payloads = batchPayloads(events);
    const payloadBytes = payloads.map((json) => Buffer.byteLength(json));
    let bytes = 0;
    for (const length of payloadBytes) bytes += recordHeaderBytes + length;
    this.bytesSinceSnapshot += bytes;
    if (this.heldBytes() + bytes > this.queueBytesMax) return this.overflow(index);
    this.queue.push({ kind: 'records', index, payloads, payloadBytes, bytes });
    this.queuedBytes += bytes;
    this.kick();
  }

  flush(done: (error: Error | undefined) => void): void {
    if (this.closing) return answer(done, new Error('storage is closed'));
    const target = this.index;
    if (target <= this.durableIndex) return answer(done, undefined);
    const reason = this.unavailable;
    if (reason !== undefined) return answer(done, new Error(reason));
    this.waiters.push({ target, done });
    this.kick();
  }

  wantsSnapshot(): boolean {
    if (this.closing) return false;
    if (this.overflowed()) return this.snapshotIndex <= this.overflowThrough;
    if (this.snapshotIndex > this.coveredIndex) return false; // one is on its way
    return this.bytesSinceSnapshot > Math.max(this.snapshotBytesMin, 2 * (this.lastSnapshot?.bytes ?? 0));
  }

  snapshot(snapshot: StoredSnapshot): void {
    if (this.closing) return;
    const index = ++this.index;
    // Whatever is queued and not yet being written is in the snapshot: drop it.
    this.queue.drain();
    this.queuedBytes = 0;
    this.queue.push({ kind: 'snapshot', index, prepared: prepareSnapshot(snapshot), number: undefined });
    this.snapshotIndex = index;
    this.bytesSinceSnapshot = 0;
    this.kick();
  }

  /**
   * Writes what is queued (and fsyncs it, FSYNC=batch), waiting at most closeTimeoutMs, then closes
   * the segment and removes the LOCK. Appends after close() are ignored; flushes are answered with an
   * error. If the time runs out with a write still in the kernel's hands, the LOCK is left (it is
   * stale once this process exits): the process is expected to exit. Not awaiting close() loses only
   * what no flush had yet answered, which nobody was told was stored.
   */
  close(): Promise<void> {
    // Never rejects: the node calls close() without awaiting it.
    this.closePromise ??= this.shutdown().catch((error: unknown) => this.log.error({ event: 'error', err: error }, 'closing the durable log failed'));
    return this.closePromise;
  }

  // ------------------------------------------------------------------ observability

  describe(): DurableLogDescription {
    let diskBytes = 0;
    for (const bytes of this.segmentBytes.values()) diskBytes += bytes;
    for (const bytes of this.snapshotBytes.values()) diskBytes += bytes;
    const last = this.lastSnapshot;
    return {
      dir: this.dir,
      fsync: this.fsyncMode,
      diskBytes,
      segments: this.segmentBytes.size,
      bytesSinceSnapshot: this.bytesSinceSnapshot,
      queuedBytes: this.heldBytes(),
      lastSnapshot: last ? { number: last.number, bytes: last.bytes, agoMs: last.at === undefined ? null : Math.max(0, Math.round(Date.now() - last.at)) } : null,
      fsyncs: this.fsyncLatency.toJSON(),
      unavailable: this.unavailable ?? null,
      recovery: this.recovery,
    };
  }

  // ------------------------------------------------------------------ queue and overflow

  private heldBytes(): number {
    return this.queuedBytes + (this.inFlight?.data.length ?? 0) + this.retainedBytes;
  }

  private overflowed(): boolean {
    return this.overflowThrough > this.coveredIndex;
  }

  private overflow(index: number): void {
    const wasUnavailable = this.unavailable !== undefined;
    const wasOverflowed = this.overflowed();
    const kept: Op[] = [];
    for (const op of this.queue.drain()) {
      if (op.kind === 'records') this.overflowThrough = Math.max(this.overflowThrough, op.index);
      else kept.push(op);
    }
    for (const op of kept) this.queue.push(op);
    this.queuedBytes = 0;
    this.overflowThrough = Math.max(this.overflowThrough, index);
    const reason = this.unavailable!;
    if (!wasOverflowed) this.log.warn({ event: 'storage-overflow', dir: this.dir, queueBytesMax: this.queueBytesMax }, `storage ${reason}`);
    if (!wasUnavailable) this.failWaiters(reason);
  }

  // ------------------------------------------------------------------ the pump

  private kick(): void {
    if (this.pumping || this.retryTimer !== undefined || this.closed) return;
    this.pumping = true;
    setImmediate(() => void this.pump());
  }

  /** Runs steps until there is nothing to do, or one fails (then: unavailable, and a retry later). */
  private async pump(): Promise<void> {
    let failed: unknown;
    let more = false;
    try {
      for (let step = 0; ; step++) {
        if (!(await this.step())) break;
        if (step >= stepsPerRun) {
          more = true;
          break;
        }
      }
    } catch (error) {
      failed = error ?? new Error('unknown failure');
    }
    this.pumping = false;
    if (failed !== undefined) this.fail(failed);
    else if (more) return this.kick();
    else if (this.failure !== undefined) {
      this.log.info({ event: 'storage-available', dir: this.dir, after: this.failure }, 'storage writes again');
      this.failure = undefined;
    }
    const idle = this.idleWaiters;
    this.idleWaiters = [];
    for (const run of idle) run();
  }

  /** One unit of work, in the order that keeps the disk a prefix of the ops; false when idle. */
  private async step(): Promise<boolean> {
    if (this.closed) return false;
    if (this.rewriteNeeded) {
      await this.rewriteRetained();
      return true;
    }
    if (this.inFlight !== undefined) {
      await this.writeBatch(this.inFlight);
      return true;
    }
    if (this.currentSnapshot !== undefined) {
      await this.writeSnapshot(this.currentSnapshot);
      return true;
    }
    const op = this.queue.peek();
    if (op?.kind === 'records') {
      await this.gather();
      return true;
    }
    if (op?.kind === 'snapshot') {
      this.queue.shift();
      this.currentSnapshot = op;
      return true;
    }
    if (this.needsSync()) {
      if (this.turnsWaited < turnsBeforeSync && !this.closing && !this.syncNeeded) {
        this.turnsWaited++;
        await new Promise<void>((resolve) => setImmediate(resolve));
        return true;
      }
      this.turnsWaited = 0;
      await this.sync();
      return true;
    }
    return false;
  }

  private needsSync(): boolean {
    if (this.fsyncMode !== 'batch' || this.segment.handle === undefined) return false;
    if (this.syncNeeded) return true;
    if (this.retainedBytes === 0) return false;
    if (this.closing || this.retainedBytes >= this.unsyncedBytesMax) return true;
    const first = this.waiters.peek();
    return first !== undefined && first.target <= this.writtenIndex;
  }

  /** Takes queued records, as many as fit one write and the current segment (rotating first if the segment is full), as the batch in flight. */
  private async gather(): Promise<void> {
    const first = this.queue.peek() as RecordsOp;
    if (this.segment.bytes > 0 && this.segment.bytes + first.bytes > this.segmentBytesMax) {
      // The queue may change while the rotation awaits (a snapshot() drops it): look again next step.
      await this.rotate();
      return;
    }
    const ops: RecordsOp[] = [];
    let total = 0;
    let lastIndex = first.index;
    for (let op = this.queue.peek(); op?.kind === 'records'; op = this.queue.peek()) {
      if (total > 0 && (total + op.bytes > writeBytesMax || this.segment.bytes + total + op.bytes > this.segmentBytesMax)) break;
      this.queue.shift();
      ops.push(op);
      total += op.bytes;
      lastIndex = op.index;
    }
    this.queuedBytes -= total;
    const data = this.arenaSlice(total);
    let offset = 0;
    for (const op of ops) for (let i = 0; i < op.payloads.length; i++) offset = encodeRecordInto(data, offset, op.payloads[i]!, op.payloadBytes[i]!);
    this.inFlight = { data, position: this.segment.bytes, lastIndex };
  }

  /**
   * `bytes` of the arena, the buffer gathered records are encoded into (one allocation for many
   * groups, not a Buffer per append). Its slices are kept while in flight or retained (not yet
   * fsynced); once neither holds any, it is used from its start again. When it has no room, a new
   * one replaces it (the old one lives on in the slices still kept); what is larger than an arena
   * gets a buffer of its own.
   */
  private arenaSlice(bytes: number): Buffer {
    if (bytes > arenaBytes) return Buffer.allocUnsafeSlow(bytes);
    if (this.inFlight === undefined && this.retained.length === 0) this.arenaUsed = 0;
    if (this.arenaUsed + bytes > this.arena.length) {
      this.arena = Buffer.allocUnsafeSlow(arenaBytes);
      this.arenaUsed = 0;
    }
    const slice = this.arena.subarray(this.arenaUsed, this.arenaUsed + bytes);
    this.arenaUsed += bytes;
    return slice;
  }

  private newSegment(number: number): Segment {
    return { number, name: segmentName(number), handle: undefined, created: false, dirSynced: false, bytes: 0, allocated: 0, growthFailed: false };
  }

  /** Creates the current segment file if it is not yet (FSYNC=batch: and makes its directory entry durable). */
  private async openSegment(): Promise<FileLike> {
    const segment = this.segment;
    if (segment.handle === undefined) {
      const flags = segment.created ? 'w' : 'wx';
      segment.created = true;
      segment.handle = await attempt('creating', segment.name, () => this.fs.open(join(this.dir, segment.name), flags));
      segment.allocated = 0;
      segment.growthFailed = false;
      this.segmentBytes.set(segment.number, 0);
    }
    if (this.fsyncMode === 'batch' && !segment.dirSynced) {
      await syncDirectory(this.fs, this.dir);
      segment.dirSynced = true;
    }
    return segment.handle;
  }

  private async writeBatch(batch: Batch): Promise<void> {
    const handle = await this.openSegment();
    await attempt('writing', this.segment.name, () => writeFully(handle, batch.data, batch.position));
    const end = batch.position + batch.data.length;
    let zeroedTo: number | undefined;
    if (this.fsyncMode === 'batch' && end > this.segment.allocated && !this.segment.growthFailed) {
      // Past the zeros written ahead: grow the file a step further, so the next fdatasyncs find no size to commit.
      zeroedTo = await this.grow(handle, end);
    }
    this.inFlight = undefined;
    this.segment.bytes = Math.max(this.segment.bytes, end);
    this.segmentBytes.set(this.segment.number, Math.max(this.segment.bytes, this.segment.allocated));
    this.writtenIndex = Math.max(this.writtenIndex, batch.lastIndex);
    if (this.fsyncMode === 'batch') {
      this.retained.push(zeroedTo === undefined ? batch : { ...batch, zeroedTo });
      this.retainedBytes += batch.data.length;
    } else {
      this.advanceDurable(this.writtenIndex);
    }
  }

  /**
   * Writes zeros from `end` to the next step (segment-preallocation.ts); returns where they end, or
   * undefined when the disk could not take them: the records it holds are written all the same, so
   * they are not refused for it (a nearly full disk); the partial zeros are cut off and this segment
   * grows with its records from then on.
   */
  private async grow(handle: FileLike, end: number): Promise<number | undefined> {
    const to = preallocationEnd(end, this.segmentBytesMax);
    try {
      await writeZeros(handle, end, to);
    } catch {
      this.segment.growthFailed = true;
      // A failed cut leaves zeros, which recovery reads as the clean end; diskBytes then misses them.
      await handle.truncate(end).catch(() => undefined);
      this.segment.allocated = end;
      return undefined;
    }
    this.segment.allocated = to;
    return to;
  }

  /** fdatasync of the current segment: answers every flush waiting for what it covers (group commit). */
  private async sync(): Promise<void> {
    const handle = this.segment.handle!;
    const upTo = this.writtenIndex;
    const started = performance.now();
    try {
      await handle.datasync();
    } catch (error) {
      this.syncNeeded = true;
      this.rewriteNeeded = this.retained.length > 0;
      throw ioError(error, 'syncing', this.segment.name);
    }
    this.fsyncLatency.observe(performance.now() - started);
    this.retained = [];
    this.retainedBytes = 0;
    this.syncNeeded = false;
    this.advanceDurable(upTo);
  }

  /** After a failed fdatasync the kernel may have dropped those pages: write them again before syncing again. */
  private async rewriteRetained(): Promise<void> {
    const handle = this.segment.handle!;
    for (const batch of this.retained) {
      await attempt('writing', this.segment.name, () => writeFully(handle, batch.data, batch.position));
      // Not past `allocated`: a rotation may have cut the zeros off since.
      const zeroedTo = Math.min(batch.zeroedTo ?? 0, this.segment.allocated);
      await attempt('writing', this.segment.name, () => writeZeros(handle, batch.position + batch.data.length, zeroedTo));
    }
    this.rewriteNeeded = false;
  }

  /** Closes the current segment (FSYNC=batch: fsynced first) and makes the next one current. */
  private async rotate(): Promise<void> {
    const segment = this.segment;
    const grown = segment.handle;
    if (this.fsyncMode === 'batch' && grown !== undefined && segment.allocated > segment.bytes) {
      // Only the newest segment may end in the zeros it was grown with (recovery reads zeros anywhere else as
      // damage): cut them off, made durable by the fdatasync below.
      await attempt('truncating', segment.name, () => grown.truncate(segment.bytes));
      segment.allocated = segment.bytes;
      this.segmentBytes.set(segment.number, segment.bytes);
      this.syncNeeded = true;
    }
    if (this.fsyncMode === 'batch' && (this.rewriteNeeded || this.syncNeeded || this.retainedBytes > 0)) {
      if (this.rewriteNeeded) await this.rewriteRetained();
      await this.sync();
    }
    const handle = segment.handle;
    segment.handle = undefined;
    this.segment = this.newSegment(segment.number + 1);
    if (handle !== undefined) {
      await handle.close().catch((error: unknown) => this.log.warn({ event: 'storage-close-failed', file: segment.name, err: error }, `closing ${segment.name} failed`));
    }
  }

  private async writeSnapshot(op: SnapshotOp): Promise<void> {
    if (op.number === undefined) {
      if (this.segment.created) await this.rotate();
      op.number = this.segment.number;
    }
    const number = op.number;
    const bytes = await writeSnapshotFile(this.fs, this.dir, number, op.prepared);
    this.currentSnapshot = undefined;
    const wasOverflowed = this.overflowed();
    this.coveredIndex = Math.max(this.coveredIndex, op.index);
    this.writtenIndex = Math.max(this.writtenIndex, op.index);
    this.snapshotBytes.set(number, bytes);
    this.lastSnapshot = { number, bytes, at: Date.now() };
    if (wasOverflowed && !this.overflowed()) this.log.info({ event: 'storage-overflow-cleared', dir: this.dir, snapshot: snapshotName(number) }, 'write queue room again: snapshot written');
    this.advanceDurable(op.index);
    await this.removeCovered(number);
  }

  /** Best effort: what is left is removed at the next snapshot, or by recovery. */
  private async removeCovered(number: number): Promise<void> {
    const doomed: [Map<number, number>, (n: number) => string][] = [
      [this.segmentBytes, segmentName],
      [this.snapshotBytes, snapshotName],
    ];
    for (const [files, name] of doomed) {
      for (const n of [...files.keys()]) {
        if (n >= number) continue;
        try {
          await removeFile(this.fs, join(this.dir, name(n)));
          files.delete(n);
        } catch (error) {
          this.log.warn({ event: 'storage-remove-failed', file: name(n), err: error }, `could not remove ${name(n)}, which ${snapshotName(number)} covers`);
        }
      }
    }
  }

  private advanceDurable(index: number): void {
    if (index <= this.durableIndex) return;
    this.durableIndex = index;
    const ready: Waiter[] = [];
    for (let first = this.waiters.peek(); first !== undefined && first.target <= index; first = this.waiters.peek()) ready.push(this.waiters.shift()!);
    for (const waiter of ready) answer(waiter.done, undefined);
  }

  private failWaiters(reason: string): void {
    for (const waiter of this.waiters.drain()) answer(waiter.done, new Error(reason));
  }

  private fail(error: unknown): void {
    const reason = error instanceof StorageIoError ? error.reason : describeIoFailure(error, 'in', 'the durable log');
    if (!(error instanceof StorageIoError)) this.log.error({ event: 'error', err: error }, 'unexpected durable log failure');
    if (reason !== this.failure) {
      this.log.warn({ event: 'storage-unavailable', dir: this.dir, reason, retryMs: this.retryMs }, `storage unavailable: ${reason}`);
    }
    this.failure = reason;
    this.failWaiters(reason);
    if (this.closing) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.kick();
    }, this.retryMs);
  }

  // ------------------------------------------------------------------ close

  private async shutdown(): Promise<void> {
    this.closing = true;
    if (this.retryTimer !== undefined) {
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
    }
    const drained = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), this.closeTimeoutMs);
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
      if (!this.pumping) {
        this.pumping = true;
        setImmediate(() => void this.pump());
      }
    });
    this.closed = true;
    this.failWaiters('storage is closed');
    if (!drained) {
      this.log.warn({ event: 'storage-close-timeout', dir: this.dir, timeoutMs: this.closeTimeoutMs }, 'close: writes still pending after the timeout; LOCK left for the next start to take over');
      return;
    }
    const handle = this.segment.handle;
    this.segment.handle = undefined;
    if (handle !== undefined && this.segment.allocated > this.segment.bytes) {
      // The zeros grown ahead are of no use to a closed segment; left there (a failure, a crash before this is on
      // disk) they read as its clean end.
      await handle.truncate(this.segment.bytes).catch(() => undefined);
    }
    await handle?.close().catch(() => undefined);
    await this.lock.release();
  }
}
