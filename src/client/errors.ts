/**
 * What went wrong, as a client of the store sees it:
 * - `unavailable`: every attempt within the retry bounds either answered 503 (causal dependencies
 *   not satisfied there yet) or could not be reached (connection refused, reset, timed out, 502/504);
 * - `rejected`: a replica refused the request with a 4xx (bad key, bad value, bad metadata...);
 *   never retried, since the same request would be refused again;
 * - `server`: a replica answered another 5xx (a bug on its side, or a full view: 507);
 * - `protocol`: the answer was not what the API promises (not JSON, wrong shape): probably not a
 *   causal-kvs replica at that address;
 * - `invalid-argument`: the call itself was wrong (bad address, empty key, null value); no request sent.
 */
export type KvsErrorKind = 'unavailable' | 'rejected' | 'server' | 'protocol' | 'invalid-argument';

/** One request made while trying to serve one operation. */
export interface AttemptRecord {
  readonly replica: string;
  /** The HTTP status, or `'unreachable'` when no answer came (with `detail` saying why). */
  readonly outcome: number | 'unreachable';
  readonly detail: string;
}

export interface KvsErrorOptions {
  readonly status?: number | undefined;
  readonly serverMessage?: string | undefined;
  readonly replica?: string | undefined;
  readonly attempts?: readonly AttemptRecord[];
  readonly cause?: unknown;
}

export class KvsError extends Error {
  override readonly name = 'KvsError';
  readonly kind: KvsErrorKind;
  /** The HTTP status of the (last) answer, if any answer came: 400, 503, 500... */
  readonly status: number | undefined;
  /** The replica's own `{"error": "..."}` text, if it gave one. */
  readonly serverMessage: string | undefined;
  /** The replica that gave the (last) answer or was tried last. */
  readonly replica: string | undefined;
  /** Every request made for this operation, in order. */
  readonly attempts: readonly AttemptRecord[];

  constructor(kind: KvsErrorKind, message: string, options: KvsErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.kind = kind;
    this.status = options.status;
    this.serverMessage = options.serverMessage;
    this.replica = options.replica;
    this.attempts = options.attempts ?? [];
  }

  /** Unavailable because no replica could be reached at all (as opposed to replicas answering 503). */
  get unreachable(): boolean {
    return this.kind === 'unavailable' && this.attempts.every((attempt) => attempt.outcome === 'unreachable');
  }
}
