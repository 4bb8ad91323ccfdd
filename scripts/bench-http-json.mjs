// A small node:http client of `npm run bench` (the preload, readiness and convergence checks): one
// request with a JSON body on any method, through the given agent. The paced writes and the lag
// probe use the leaner KeepAliveConnection (bench-http-connection.mjs).
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { parseJsonBody, splitAddress } from './bench-http-connection.mjs';

/** Resolves with { status, body (parsed JSON or null), ms, ended (performance.now()) }; times out after 10 s. */
export function httpJson(agent, address, method, urlPath, bodyText) {
  const [host, port] = splitAddress(address);
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const payload = bodyText === undefined ? undefined : Buffer.from(bodyText);
    const req = http.request(
      {
        host,
        port,
        method,
        path: urlPath,
        agent,
        headers: payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': payload.length },
        timeout: 10_000,
      },
      (res) => {
        const chunks = [];
        res.on('data', (chunk) => chunks.push(chunk));
        res.on('end', () => {
          const ended = performance.now();
          const body = parseJsonBody(Buffer.concat(chunks).toString());
          resolve({ status: res.statusCode ?? 0, body, ms: ended - started, ended });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${address}${urlPath} timed out`)));
    req.on('error', reject);
    req.end(payload);
  });
}
