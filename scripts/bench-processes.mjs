// What the small benchmarks (bench-one-replica, bench-replication, bench-ab) share: loopback ports, server
// processes started and stopped by PID, their CPU time from /proc, and autocannon clients that
// carry their causal metadata. `npm run bench` (scripts/bench.mjs and its bench-*.mjs modules)
// takes its ports, CPU times and the links-up check from here as well; its own servers log to
// files and stop with SIGTERM first (bench-servers.mjs).
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

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

/**
 * User plus system CPU time so far of these server processes together, in ms, from /proc (Linux),
 * or null if any cannot be read. Summed over the replicas of a store: what one request costs the
 * cluster, all replication included, which the req/s ratio alone cannot tell apart from waiting.
 */
export function serverCpuMs(pids) {
  let ms = 0;
  for (const pid of pids) {
    const pidMs = processCpuMs(pid);
    if (pidMs === null) return null;
    ms += pidMs;
  }
  return ms;
}

/** Starts counting the CPU time of these processes: the function returned gives the ms they used since, or null (see serverCpuMs). */
export function cpuMeter(pids) {
  const before = serverCpuMs(pids);
  return () => {
    const after = serverCpuMs(pids);
    return before === null || after === null ? null : after - before;
  };
}

/**
 * The read- and write-type system calls (read, write, writev, sendmsg...; /proc/<pid>/io syscr and
 * syscw) and the context switches (voluntary and not, every thread; /proc/<pid>/task/<tid>/status)
 * of a process so far, or null if they cannot be read.
 */
function kernelCounts(pid) {
  try {
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    const field = (text, name) => Number(new RegExp(`^${name}:\\s*(\\d+)`, 'm').exec(text)?.[1] ?? NaN);
    let switches = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      switches += field(status, 'voluntary_ctxt_switches') + field(status, 'nonvoluntary_ctxt_switches');
    }
    const counts = { syscalls: field(io, 'syscr') + field(io, 'syscw'), switches };
    return Number.isFinite(counts.syscalls) && Number.isFinite(counts.switches) ? counts : null;
  } catch {
    return null; // the process is gone, or not Linux
  }
}

/**
 * Starts counting the I/O system calls and context switches of these processes together: the
 * function returned gives how many each since, or null. Why: on a virtual machine where a system
 * call or a wake-up of another process is dear, as on the 2-core VM these benchmarks were tuned on
 * (a PVM guest), they explain most of the CPU per request, and batching is what cuts them.
 */
export function kernelWorkMeter(pids) {
  const sum = () => {
    const total = { syscalls: 0, switches: 0 };
    for (const pid of pids) {
      const counts = kernelCounts(pid);
      if (counts === null) return null;
      total.syscalls += counts.syscalls;
      total.switches += counts.switches;
    }
    return total;
  };
  const before = sum();
  return () => {
    const after = sum();
    return before === null || after === null ? null : { syscalls: after.syscalls - before.syscalls, switches: after.switches - before.switches };
  };
}

/** `count` distinct TCP ports on 127.0.0.1 that were free a moment ago (all are held open until each is picked). */
export async function freePorts(count) {
  const servers = [];
  for (let i = 0; i < count; i += 1) {
    const server = net.createServer();
    await new Promise((resolve, reject) => server.listen(0, '127.0.0.1', resolve).once('error', reject));
    servers.push(server);
  }
  const ports = servers.map((s) => s.address().port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort() {
  return (await freePorts(1))[0];
}

/** Whether a replica's /debug/state shows all its `size - 1` peers with links up, none of them held down. */
export const linksUp = (state, size) =>
  state.peers.length === size - 1 && state.peers.every((peer) => peer.link?.state === 'up' && !peer.link?.heldDownRemainingMs);

/** Server processes started by a benchmark: each is killed by PID when stopped, and at exit or SIGINT. */
export class ServerProcesses {
  #running = new Set();

  constructor() {
    process.on('exit', () => {
      for (const child of this.#running) if (child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
    });
    process.on('SIGINT', () => process.exit(130));
  }

  /** Starts `node [nodeArgs] <bundle>` with these environment variables (LOG_LEVEL=warn) and waits for its /health. */
  async start(bundle, address, env, nodeArgs = []) {
    const child = spawn(process.execPath, [...nodeArgs, bundle], {
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
   * `size` replicas of `bundle` on free 127.0.0.1 ports (or on `addresses`), each with all of them
   * as its VIEW plus `env` (SHARD_COUNT, ...) and `nodeArgs` on its command line; returns once
   * every replica sees all its `groupSize - 1` peers (its shard's, when sharded) with links up
   * (bounded: 10 s), so nothing is measured while the cluster is still forming.
   */
  async startCluster(bundle, size, { addresses = [], env = {}, nodeArgs = [], groupSize = size } = {}) {
    addresses = [...addresses];
    while (addresses.length < size) addresses.push(`127.0.0.1:${await freePort()}`);
    const children = await Promise.all(addresses.map((address) => this.start(bundle, address, { SOCKET_ADDRESS: address, VIEW: addresses.join(','), ...env }, nodeArgs)));
    for (let i = 0; groupSize > 1; i++) {
      const states = await Promise.all(addresses.map(async (address) => (await fetch(`http://${address}/debug/state`)).json()));
      if (states.every((state) => linksUp(state, groupSize))) break;
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
 * autocannon's setupClient for `method` (GET or PUT) on random keys k0..k<keys-1>, or on random
 * keys of the list `keysFor(client)` returns where it is given (the keys of one shard, say). Each
 * client carries the metadata its last answer gave it, in a closure of its own (autocannon's
 * per-request context is reset whenever a client loops over its requests).
 */
export function metadataCarryingClient(method, keys, keysFor = undefined) {
  return (client) => {
    let metadata = null;
    const own = keysFor?.(client);
    client.setRequests([
      {
        method,
        setupRequest: (request) => ({
          ...request,
          path: `/kvs/${own === undefined ? `k${Math.floor(Math.random() * keys)}` : own[Math.floor(Math.random() * own.length)]}`,
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
