import { request as httpRequest, type Agent, type IncomingMessage } from 'node:http';
import type { Address } from '../../events/ids.ts';

/** A request that got no usable answer; `notSent`: it never reached the node (safe to send elsewhere, a write included). */
export class JsonHttpError extends Error {
  constructor(
    message: string,
    readonly notSent: boolean,
    /** The status, when an answer came that was not JSON. */
    readonly status?: number,
  ) {
    super(message);
  }
}

export interface JsonHttpOptions {
  readonly agent: Agent;
  readonly sourceAddress: string | undefined;
  readonly connectTimeoutMs: number;
  /** The whole exchange, connection included. */
  readonly timeoutMs: number;
  /** The largest answer body read, in bytes. */
  readonly answerBytesMax: number;
  readonly headers: Readonly<Record<string, string>>;
}

export interface JsonAnswer {
  readonly status: number;
  /** The parsed JSON body; undefined when the body was empty. */
  readonly body: unknown;
}

const notSentCodes = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ENOTFOUND']);

/**
 * One JSON request between nodes, answered with any status, on plain node:http with a kept-alive
 * agent: no retries (callers have their own), a short connect timeout so a dead node is passed over
 * quickly, a bound on the answer's size. Not got: got spent about 390 us of CPU per request against
 * about 100 us here on the same kept-alive socket, and nodes send these all the time (probes four
 * times a second to every peer; forwarded requests).
 */
export function jsonRequest(to: Address, method: string, path: string, body: unknown, options: JsonHttpOptions): Promise<JsonAnswer> {
  const colon = to.lastIndexOf(':');
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const { sourceAddress, connectTimeoutMs, timeoutMs, answerBytesMax } = options;
  return new Promise<JsonAnswer>((resolve, reject) => {
    let connected = false;
    let settled = false;
    const fail = (message: string, notSent: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      outgoing.destroy();
      reject(new JsonHttpError(`${to}${path}: ${message}`, notSent));
    };
    const outgoing = httpRequest({
      host: to.slice(0, colon),
      port: Number(to.slice(colon + 1)),
      method,
      path,
      agent: options.agent,
      ...(sourceAddress === undefined ? {} : { localAddress: sourceAddress }),
      headers: {
        accept: 'application/json',
        ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(payload.length) }),
        ...options.headers,
      },
    });
    const deadline = setTimeout(() => fail(connected ? `no answer within ${timeoutMs} ms` : `no connection within ${Math.min(timeoutMs, connectTimeoutMs)} ms`, !connected), timeoutMs);
    outgoing.on('socket', (socket) => {
      if (!socket.connecting) {
        connected = true; // a kept-alive socket
        return;
      }
      const connectTimer = setTimeout(() => fail(`no connection within ${connectTimeoutMs} ms`, true), connectTimeoutMs);
      socket.once('connect', () => {
        connected = true;
        clearTimeout(connectTimer);
      });
      socket.once('close', () => clearTimeout(connectTimer));
    });
    outgoing.on('error', (error: NodeJS.ErrnoException) => fail(error.code ?? error.message, !connected || (error.code !== undefined && notSentCodes.has(error.code))));
    outgoing.on('response', (response: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      response.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > answerBytesMax) fail(`answer over ${answerBytesMax} bytes`, false);
        else chunks.push(chunk);
      });
      response.on('error', (error) => fail(error.message, false));
      response.on('end', () => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown;
        try {
          parsed = text === '' ? undefined : JSON.parse(text);
        } catch {
          reject(new JsonHttpError(`${to}${path}: the answer is not JSON (HTTP ${response.statusCode})`, false, response.statusCode));
          return;
        }
        resolve({ status: response.statusCode ?? 0, body: parsed });
      });
    });
    outgoing.end(payload);
  });
}
