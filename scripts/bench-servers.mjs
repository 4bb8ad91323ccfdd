// The servers `npm run bench` runs: the baseline and three replicas of the store, each a plain
// `node` process on 127.0.0.1 with its output in <run dir>/<name>.log and BENCH_NODE_ARGS on its
// command line. Every one is stopped by PID: SIGTERM first (so --cpu-prof writes its profile),
// SIGKILL after a grace period, and SIGKILL at once when this process exits. The smaller
// benchmarks use ServerProcesses (bench-processes.mjs) instead, which logs to stderr and kills at once.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { httpJson } from './bench-http-json.mjs';
import { freePorts, linksUp } from './bench-processes.mjs';
import { nodeArgsSetting } from './bench-settings.mjs';

const children = new Set();

/** How many of the processes started are still running (or not yet reaped). */
export const childCount = () => children.size;

function startProcess(name, script, env, nodeArgs, logDir) {
  const logFile = path.join(logDir, `${name}.log`);
  const fd = openSync(logFile, 'a');
  const extraArgs = nodeArgsSetting();
  const child = spawn(process.execPath, [...extraArgs, ...nodeArgs, script], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  const entry = { name, child, logFile, exited: new Promise((resolve) => child.once('exit', resolve)) };
  children.add(entry);
  child.once('exit', () => children.delete(entry));
  return entry;
}

const running = (child) => child.exitCode === null && child.signalCode === null;

/** Sends `signal` by PID to each of `entries` still running. */
function signalAll(entries, signal) {
  for (const { child } of entries) {
    if (running(child)) {
      try {
        process.kill(child.pid, signal);
      } catch {
        // already gone
      }
    }
  }
}

/** SIGKILL by PID to every process still running (at exit, on signals). */
export function killAllNow() {
  signalAll(children, 'SIGKILL');
}

/** SIGTERM by PID (so --cpu-prof profiles get written), SIGKILL after a grace period. */
export async function stopAll(graceMs = 5000) {
  const entries = [...children];
  signalAll(entries, 'SIGTERM');
  await Promise.race([Promise.all(entries.map((e) => e.exited)), sleep(graceMs)]);
  killAllNow();
  await Promise.all(entries.map((e) => e.exited));
}

/** Polls `check` every 100 ms until it holds; fails at once if one of `entries` exits, with the end of its log. */
export async function waitUntil(what, check, timeoutMs, entries = []) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    for (const e of entries) {
      if (!running(e.child)) throw new Error(`${e.name} exited while waiting for ${what}; see ${e.logFile}:\n${readFileSync(e.logFile, 'utf8').slice(-2000)}`);
    }
    try {
      if (await check()) return;
    } catch (error) {
      last = error;
    }
    await sleep(100);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last.message}` : ''}`);
}

const probeAgent = new http.Agent({ keepAlive: false });

async function healthy(address) {
  const answer = await httpJson(probeAgent, address, 'GET', '/health');
  return answer.status === 200;
}

export async function debugState(address) {
  const answer = await httpJson(probeAgent, address, 'GET', '/debug/state');
  if (answer.status !== 200) throw new Error(`/debug/state at ${address}: ${answer.status}`);
  return answer.body;
}

/**
 * Starts the baseline and replicas A, B and C on free ports (replica A and the baseline under
 * --cpu-prof with `cpuProf`) and waits for each one's /health, then for every replica to see both
 * peers with links up.
 */
export async function startServers(bundles, runDir, cpuProf) {
  const [basePort, ...storePorts] = await freePorts(4);
  const baselineAddress = `127.0.0.1:${basePort}`;
  const storeAddresses = storePorts.map((p) => `127.0.0.1:${p}`);
  const profArgs = (name) => (cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${runDir}`, `--cpu-prof-name=${name}.cpuprofile`] : []);

  const baselineProc = startProcess('baseline', bundles.baseline, { SOCKET_ADDRESS: baselineAddress }, profArgs('baseline'), runDir);
  await waitUntil(`baseline at ${baselineAddress} to answer /health`, () => healthy(baselineAddress), 10_000, [baselineProc]);
  const replicaProcs = [];
  for (const [i, address] of storeAddresses.entries()) {
    const name = `replica-${'ABC'[i]}`;
    replicaProcs.push(startProcess(name, bundles.store, { SOCKET_ADDRESS: address, VIEW: storeAddresses.join(',') }, i === 0 ? profArgs(name) : [], runDir));
    await waitUntil(`${name} at ${address} to answer /health`, () => healthy(address), 10_000, replicaProcs);
  }
  await waitUntil(
    'every replica to see both peers with links up',
    async () => {
      const states = await Promise.all(storeAddresses.map(debugState));
      return states.every((s) => s.view.length === 3 && linksUp(s, 3));
    },
    20_000,
    replicaProcs,
  );
  return { baselineAddress, storeAddresses, baselineProc, replicaProcs };
}
