// A client of `npm run bench` and what it sends: the causal metadata it carries from one answer to
// its next request (every load client, the preload and the lag probe), what it sent, and the keys
// (k0..k<BENCH_KEYS-1>) and 32-byte values of the loads.
import { KEYS } from './bench-settings.mjs';

const VALUE_BYTES = 32;

export const valueFor = (n) => `v${String(n).padStart(VALUE_BYTES - 1, '0')}`;

let writeCounter = 0;

/** The value of the next write of a load: numbered across every load of the run. */
export const nextValue = () => valueFor((writeCounter += 1));

/** A uniformly random key of the preloaded ones. */
export const randomKey = () => `k${Math.floor(Math.random() * KEYS)}`;

/** A client session: the causal metadata it carries, and what it sent. */
export function newSession(id, replica) {
  return { id, replica, meta: null, metaJson: 'null', sent: 0, sentWithMeta: 0, metaBytes: 0, lastOp: 'read' };
}

export function noteSent(session) {
  session.sent += 1;
  if (session.meta !== null) {
    session.sentWithMeta += 1;
    session.metaBytes += Buffer.byteLength(session.metaJson);
  }
}

/** Takes the metadata of a response (any status that carries it) as the session's latest. */
export function absorb(session, body) {
  const meta = body?.['causal-metadata'];
  if (meta !== undefined && meta !== null) {
    session.meta = meta;
    session.metaJson = JSON.stringify(meta);
  }
}

/** The JSON body of a PUT of `value` (a string) carrying the session's metadata. */
export const putBody = (session, value) => `{"value":"${value}","causal-metadata":${session.metaJson}}`;

/** The JSON body of a GET carrying the session's metadata. */
export const getBody = (session) => `{"causal-metadata":${session.metaJson}}`;
