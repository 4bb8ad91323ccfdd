import { isPlainObject } from './parse-event.ts';
import { ValidationError } from './validation-error.ts';

/**
 * The lines of a forward stream (src/shard/forward-stream.ts): a node of a sharded store hands
 * client requests for another shard's keys to a member of that shard on one long-lived exchange,
 * each request a JSON line of the request body, each answer a JSON line of the response body. An
 * answer names its request's id, so answers go out as they are ready (a write waiting for its
 * acknowledgement does not hold up the reads behind it).
 */
export const forwardStreamPath = '/internal/shard/forward-stream';

/** A client's `/kvs/<key>` request, forwarded. */
export interface ForwardRequestFrame {
  /** Chosen by the sender, unique among its requests waiting on the stream. */
  readonly id: number;
  /** HEAD travels as GET (its answer is the GET's without the body). */
  readonly method: 'GET' | 'PUT' | 'DELETE';
  /** Decoded, not empty. */
  readonly key: string;
  /** The client's parsed JSON body, as it came (checked by the member that serves it). */
  readonly body: unknown;
  /** The client's X-Causal-Metadata header, when it sent one. */
  readonly metadataHeader?: string;
  /** How many times the request was forwarded, this time included (a node with an older map may forward once more). */
  readonly hops: number;
}

/** The answer to one forwarded request: the status and body the client gets. */
export interface ForwardAnswerFrame {
  readonly id: number;
  readonly status: number;
  readonly body: Record<string, unknown>;
}

const methods = new Set(['GET', 'PUT', 'DELETE']);
/** Most characters of a forwarded X-Causal-Metadata header (a token of CLOCK_ENTRIES_MAX entries fits many times over). */
const metadataHeaderMax = 1024 * 1024;

function frameId(input: unknown): number {
  if (typeof input !== 'number' || !Number.isSafeInteger(input) || input < 0) throw new ValidationError('forwarded frame: id must be a non-negative integer');
  return input;
}

/** The id of a forwarded request, or undefined when it has none (the stream cannot answer it: it is cut). */
export function forwardRequestId(input: unknown): number | undefined {
  if (!isPlainObject(input)) return undefined;
  const { id } = input;
  return typeof id === 'number' && Number.isSafeInteger(id) && id >= 0 ? id : undefined;
}

/** A forwarded request as sent, or a 400 saying what is wrong with it. */
export function parseForwardRequest(input: unknown): ForwardRequestFrame {
  if (!isPlainObject(input)) throw new ValidationError('forwarded request must be a JSON object');
  const { id, method, key, body, metadataHeader, hops } = input;
  if (typeof method !== 'string' || !methods.has(method)) throw new ValidationError('forwarded request: method must be GET, PUT or DELETE');
  // No bound of its own: a GET of a key longer than any stored is a 404 like any other (docs/API.md), and the line's size bounds it.
  if (typeof key !== 'string' || key.length === 0) throw new ValidationError('forwarded request: key must be a non-empty string');
  if (metadataHeader !== undefined && (typeof metadataHeader !== 'string' || metadataHeader.length > metadataHeaderMax)) {
    throw new ValidationError('forwarded request: metadataHeader must be a string');
  }
  if (typeof hops !== 'number' || !Number.isSafeInteger(hops) || hops < 1) throw new ValidationError('forwarded request: hops must be a positive integer');
  return { id: frameId(id), method: method as ForwardRequestFrame['method'], key, body, ...(metadataHeader === undefined ? {} : { metadataHeader }), hops };
}

/** An answer as the member wrote it, or a ValidationError (the stream is then not to be trusted). */
export function parseForwardAnswer(input: unknown): ForwardAnswerFrame {
  if (!isPlainObject(input)) throw new ValidationError('forwarded answer must be a JSON object');
  const { id, status, body } = input;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 100 || status > 599) throw new ValidationError('forwarded answer: status must be an HTTP status');
  if (!isPlainObject(body)) throw new ValidationError('forwarded answer: body must be a JSON object');
  return { id: frameId(id), status, body };
}
