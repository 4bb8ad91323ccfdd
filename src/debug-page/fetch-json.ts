import { errorMessage } from './format.ts';

const fetchTimeoutMs = 2000;

/**
 * An answer and when its request went out and came back, on this browser's clock: the middle of the
 * two is when the replica answered, to within half the round trip.
 */
export interface Answer<T> {
  readonly body: T;
  readonly t0: number;
  readonly t1: number;
}

/** GETs `url` as JSON; a replica that does not answer within the timeout fails with "timed out". */
export async function fetchJson<T>(url: string): Promise<Answer<T>> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), fetchTimeoutMs);
  const t0 = Date.now();
  try {
    const response = await fetch(url, { signal: controller.signal, cache: 'no-store' });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    // Trusted as typed: the replicas of this cluster serve it (src/http/debug-routes.ts).
    const body = (await response.json()) as T;
    return { body, t0, t1: Date.now() };
  } catch (err) {
    throw new Error(err instanceof DOMException && err.name === 'AbortError' ? 'timed out' : errorMessage(err));
  } finally {
    clearTimeout(timer);
  }
}
