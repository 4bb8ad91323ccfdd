// One keep-alive HTTP/1.1 connection that sends one JSON request at a time: the client of the
// paced write load (bench-paced-writes.mjs) and of the lag probe (bench-lag-probe.mjs) of
// `npm run bench`. Also the address and body parsing it shares with bench-http-json.mjs.
//
// Why not node:http: on this 2-core machine the load generator shares the cores with the three
// replicas it measures. With http.request() the paced load and the probe took 0.64 of the 2 cores
// at 3,400 writes/s ("half of peak"), and the store's tail latency there said more about the
// client's CPU than about replication. With this client they take 0.38-0.40 (`npm run bench`
// prints it with the lag table). It writes the request as one string and reads the answer by its
// Content-Length, as autocannon does, and refuses anything it does not understand (an answer
// without Content-Length, bytes it did not ask for) rather than guess.
import net from 'node:net';

const headerEnd = Buffer.from('\r\n\r\n');

/** "host:port" as [host, port]. */
export function splitAddress(address) {
  const colon = address.lastIndexOf(':');
  return [address.slice(0, colon), Number(address.slice(colon + 1))];
}

/** A response body as JSON: null where it is empty or not JSON. */
export function parseJsonBody(text) {
  try {
    return text === '' ? null : JSON.parse(text);
  } catch {
    return null;
  }
}

export class KeepAliveConnection {
  #host;
  #port;
  #socket;
  #buffer = Buffer.alloc(0);
  #pending;
  #timeoutMs;

  constructor(address, { timeoutMs = 10_000 } = {}) {
    [this.#host, this.#port] = splitAddress(address);
    this.#timeoutMs = timeoutMs;
  }

  /** Sends one request; resolves with { status, body (parsed JSON or null), ms, ended } (performance.now() times). */
  request(method, path, bodyText) {
    if (this.#pending !== undefined) return Promise.reject(new Error('one request at a time on a KeepAliveConnection'));
    const payload = bodyText ?? '';
    const head =
      `${method} ${path} HTTP/1.1\r\nHost: ${this.#host}:${this.#port}\r\nConnection: keep-alive\r\n` +
      (bodyText === undefined ? '\r\n' : `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(payload)}\r\n\r\n`);
    return new Promise((resolve, reject) => {
      const started = performance.now();
      const timer = setTimeout(() => this.#fail(new Error(`${method} ${this.#host}:${this.#port}${path} timed out`)), this.#timeoutMs);
      this.#pending = { resolve, reject, started, timer };
      this.#connected().write(head + payload);
    });
  }

  close() {
    this.#socket?.destroy();
    this.#socket = undefined;
  }

  #connected() {
    if (this.#socket !== undefined && !this.#socket.destroyed) return this.#socket;
    this.#buffer = Buffer.alloc(0);
    const socket = net.connect({ host: this.#host, port: this.#port, noDelay: true });
    // Only the current socket speaks for the pending request: an old one closing late must not fail a new one.
    socket.on('data', (chunk) => this.#socket === socket && this.#onData(chunk));
    socket.on('error', (error) => this.#socket === socket && this.#fail(error));
    socket.on('close', () => this.#socket === socket && this.#fail(new Error('connection closed before the answer')));
    this.#socket = socket;
    return socket;
  }

  #onData(chunk) {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    const end = this.#buffer.indexOf(headerEnd);
    if (end < 0) return;
    const head = this.#buffer.toString('latin1', 0, end);
    const status = Number(head.slice(9, 12));
    const length = /\r\ncontent-length: *(\d+)/i.exec(head);
    if (length === null) return this.#fail(new Error(`an answer without Content-Length (${head.split('\r\n')[0]})`));
    const bodyStart = end + headerEnd.length;
    const bodyEnd = bodyStart + Number(length[1]);
    if (this.#buffer.length < bodyEnd) return;
    if (this.#buffer.length > bodyEnd) return this.#fail(new Error('bytes after the answer: the server answered something we did not ask'));
    const text = this.#buffer.toString('utf8', bodyStart, bodyEnd);
    this.#buffer = Buffer.alloc(0);
    const pending = this.#pending;
    this.#pending = undefined;
    if (pending === undefined) return this.#fail(new Error('an answer to no request'));
    clearTimeout(pending.timer);
    const body = parseJsonBody(text);
    if (/\r\nconnection: *close/i.test(head)) this.close();
    const ended = performance.now();
    pending.resolve({ status, body, ms: ended - pending.started, ended });
  }

  #fail(error) {
    const pending = this.#pending;
    this.#pending = undefined;
    this.close();
    if (pending !== undefined) {
      clearTimeout(pending.timer);
      pending.reject(error);
    }
  }
}
