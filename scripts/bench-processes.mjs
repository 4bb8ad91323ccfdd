// What the small benchmarks (bench-one-replica, bench-replication, bench-ab) share: loopback ports, server
// processes started and stopped by PID, their CPU time from /proc, and autocannon clients that
// carry their causal metadata. scripts/bench.mjs reads CPU time through processCpuMs as well.
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const clockTicksPerSecond = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** User plus system CPU time of a process so far, in ms, from /proc (Linux); null if it cannot be read. */
export function processCpuMs(pid) {
  let stat;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may hold spaces: count from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicksPerSecond;
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Server processes started by a benchmark: each is killed by PID when stopped, and at exit or SIGINT. */
export class ServerProcesses {
  #running = new Set();

  constructor() {
    process.on('exit', () => {
      for (const child of this.#running) if (child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
    });
    process.on('SIGINT', () => process.exit(130));
  }

  /** Starts `node <bundle>` with these environment variables (LOG_LEVEL=warn) and waits for its /health. */
  async start(bundle, address, env) {
    const child = spawn(process.execPath, [bundle], {
      env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    this.#running.add(child);
    for (let i = 0; i < 100; i++) {
      try {
        if ((await fetch(`http://${address}/health`)).ok) return child;
      } catch {
        // not listening yet
      }
      await sleep(100);
    }
    throw new Error(`${bundle} did not answer /health at ${address}`);
  }

  /**
   * `size` replicas of `bundle` on free 127.0.0.1 ports, each with all of them as its VIEW; returns
   * once every replica sees all its peers with links up (bounded: 10 s), so nothing is measured
   * while the cluster is still forming.
   */
  async startCluster(bundle, size) {
    const addresses = [];
    for (let i = 0; i < size; i++) addresses.push(`127.0.0.1:${await freePort()}`);
    const children = await Promise.all(addresses.map((address) => this.start(bundle, address, { SOCKET_ADDRESS: address, VIEW: addresses.join(',') })));
    for (let i = 0; size > 1; i++) {
      const states = await Promise.all(addresses.map(async (address) => (await fetch(`http://${address}/debug/state`)).json()));
      const linksUp = (state) => state.peers.length === size - 1 && state.peers.every((peer) => peer.link?.state === 'up' && !peer.link?.heldDownRemainingMs);
      if (states.every(linksUp)) break;
      if (i >= 100) throw new Error(`${bundle}: the replicas did not all see their peers up within 10 s`);
      await sleep(100);
    }
    return { addresses, children };
  }

  /** SIGKILL by PID, and waits until it has exited. */
  async stop(child) {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      process.kill(child.pid, 'SIGKILL');
      await exited;
    }
    this.#running.delete(child);
  }
}

/**
 * autocannon's setupClient for `method` (GET or PUT) on random keys k0..k<keys-1>. Each client
 * carries the metadata its last answer gave it, in a closure of its own (autocannon's per-request
 * context is reset whenever a client loops over its requests).
 */
export function metadataCarryingClient(method, keys) {
  return (client) => {
    let metadata = null;
    client.setRequests([
      {
        method,
        setupRequest: (request) => ({
          ...request,
          path: `/kvs/k${Math.floor(Math.random() * keys)}`,
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(method === 'PUT' ? { value: 'x'.repeat(32), 'causal-metadata': metadata } : { 'causal-metadata': metadata }),
        }),
        onResponse: (_status, body) => {
          try {
            metadata = JSON.parse(body)['causal-metadata'] ?? metadata;
          } catch {
            // keep the metadata it had
          }
        },
      },
    ]);
  };
}
