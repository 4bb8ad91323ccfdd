import { KvsError } from './errors.ts';

/** How hard one operation tries before it reports `unavailable`. */
export interface RetryOptions {
  /** Requests at most per operation, counting every replica tried (default 8). */
  readonly attemptsMax: number;
  /** The first wait after a 503 (or after every replica failed to connect), in ms (default 50). */
  readonly delayMsMin: number;
  /** No single wait is longer than this, in ms (default 1000). */
  readonly delayMsMax: number;
  /** The whole operation, waits and requests included, gives up after this many ms (default 10000). */
  readonly totalMsMax: number;
}

export const defaultRetry: RetryOptions = { attemptsMax: 8, delayMsMin: 50, delayMsMax: 1000, totalMsMax: 10_000 };

export function resolveRetry(partial: Partial<RetryOptions> | undefined): RetryOptions {
  const retry = { ...defaultRetry, ...partial };
  const ok =
    Number.isSafeInteger(retry.attemptsMax) &&
    retry.attemptsMax >= 1 &&
    Number.isFinite(retry.delayMsMin) &&
    Number.isFinite(retry.delayMsMax) &&
    retry.delayMsMin >= 0 &&
    retry.delayMsMax >= retry.delayMsMin &&
    Number.isFinite(retry.totalMsMax) &&
    retry.totalMsMax > 0;
  if (!ok) {
    throw new KvsError(
      'invalid-argument',
      `retry must have attemptsMax >= 1 (an integer), 0 <= delayMsMin <= delayMsMax and totalMsMax > 0; got ${JSON.stringify(retry)}`,
    );
  }
  return retry;
}

/**
 * The wait before retry number `retryIndex` (0 for the first): exponential growth from
 * `delayMsMin`, capped at `delayMsMax`, with jitter drawn uniformly between `delayMsMin` and the
 * cap, so clients that failed together do not come back together.
 */
export function backoffDelayMs(retry: RetryOptions, retryIndex: number, random: () => number = Math.random): number {
  const cap = Math.min(retry.delayMsMax, retry.delayMsMin * 2 ** Math.min(retryIndex, 30));
  const spread = Math.max(0, cap - retry.delayMsMin);
  return Math.round(retry.delayMsMin + random() * spread);
}
