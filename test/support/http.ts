import { Agent } from 'node:http';
import got from 'got';

/** What a test sees of one HTTP answer. */
export interface Answer {
  readonly status: number;
  readonly body: any;
}

export interface RequestOptions {
  /** Bind the client side (so firewall rules on source addresses apply to it). */
  readonly localAddress?: string;
  readonly headers?: Record<string, string>;
  /** Send this exact text (or these exact bytes) as the body instead of JSON. */
  readonly rawBody?: string | Buffer;
  readonly timeoutMs?: number;
}

const agent = new Agent({ keepAlive: false });

/**
 * One request, as a course client would send it: a JSON body on every method (GET included),
 * no retries, no redirects. Network errors reject; every HTTP status resolves.
 */
export async function request(method: string, address: string, path: string, body?: unknown, options: RequestOptions = {}): Promise<Answer> {
  const response = await got(`http://${address}${path}`, {
    method: method as 'GET',
    allowGetBody: true,
    throwHttpErrors: false,
    retry: { limit: 0 },
    agent: { http: agent },
    timeout: { request: options.timeoutMs ?? 10_000 },
    ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
    headers: { 'content-type': 'application/json', ...options.headers },
    ...(options.rawBody !== undefined ? { body: options.rawBody } : body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  let parsed: unknown = response.body;
  try {
    parsed = JSON.parse(response.body);
  } catch {
    // left as text: the test will say the body was not JSON
  }
  return { status: response.statusCode, body: parsed };
}

export const put = (address: string, key: string, value: unknown, metadata: unknown = null, options?: RequestOptions) =>
  request('PUT', address, `/kvs/${encodeURIComponent(key)}`, { value, 'causal-metadata': metadata }, options);
export const get = (address: string, key: string, metadata: unknown = null, options?: RequestOptions) =>
  request('GET', address, `/kvs/${encodeURIComponent(key)}`, { 'causal-metadata': metadata }, options);
export const del = (address: string, key: string, metadata: unknown = null, options?: RequestOptions) =>
  request('DELETE', address, `/kvs/${encodeURIComponent(key)}`, { 'causal-metadata': metadata }, options);
export const getView = async (address: string): Promise<string[]> => (await request('GET', address, '/view')).body.view;

/** Polls `check` until it returns a truthy value or `timeoutMs` passes; returns the value or throws. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs: number, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${String(lastError)})` : ''}`);
    }
    await sleep(everyMs);
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
