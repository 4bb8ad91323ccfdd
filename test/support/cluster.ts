import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { request, waitFor } from './http.ts';

export const bundlePath = fileURLToPath(new URL('../../dist/kvs.mjs', import.meta.url));

export interface ReplicaOptions {
  readonly address: string;
  readonly view: readonly string[];
  readonly env?: Record<string, string>;
  /** Run the process under this uid/gid (root only), so nft owner rules can tell replicas apart. */
  readonly uid?: number;
}

/** One replica process started from the bundle. */
export class ReplicaProcess {
  readonly output: string[] = [];
  private exited: Promise<void>;

  constructor(
    readonly options: ReplicaOptions,
    readonly child: ChildProcess,
  ) {
    const keep = (chunk: Buffer) => {
      this.output.push(chunk.toString());
      if (this.output.length > 2000) this.output.splice(0, 1000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  get address(): string {
    return this.options.address;
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Kills by PID with `signal` and waits until the process is gone. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.running) process.kill(this.pid, signal);
    await this.exited;
  }

  logs(): string {
    return this.output.join('');
  }
}

const started = new Set<ReplicaProcess>();

/** Every process a test started is killed when the test process ends, however it ends. */
function killAllStarted(): void {
  for (const replica of started) {
    if (replica.running) {
      try {
        process.kill(replica.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}
process.once('exit', killAllStarted);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killAllStarted();
    process.exit(1);
  });
}

/** Starts one replica and waits until it answers /health (at most `readyTimeoutMs`). */
export async function startReplica(options: ReplicaOptions, readyTimeoutMs = 10_000): Promise<ReplicaProcess> {
  if (!existsSync(bundlePath)) throw new Error(`${bundlePath} is missing: run npm run build first`);
  const child = spawn(process.execPath, [bundlePath], {
    env: {
      PATH: process.env.PATH ?? '',
      SOCKET_ADDRESS: options.address,
      VIEW: options.view.join(','),
      LOG_LEVEL: 'info',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.uid }),
  });
  const replica = new ReplicaProcess(options, child);
  started.add(replica);
  try {
    await waitFor(
      `${options.address} to answer /health`,
      async () => {
        if (!replica.running) throw new Error(`replica ${options.address} exited:\n${replica.logs()}`);
        return (await request('GET', options.address, '/health', undefined, { timeoutMs: 500 })).status === 200;
      },
      readyTimeoutMs,
    );
  } catch (error) {
    await replica.kill('SIGKILL'); // never leave a process behind that the caller does not know of
    throw error;
  }
  return replica;
}

/** Starts replicas at `addresses`, each with all of them in its VIEW, one after another. */
export async function startCluster(addresses: readonly string[], env: Record<string, string> = {}, uids?: readonly number[]): Promise<ReplicaProcess[]> {
  const replicas: ReplicaProcess[] = [];
  for (const [i, address] of addresses.entries()) {
    replicas.push(await startReplica({ address, view: addresses, env, ...(uids === undefined ? {} : { uid: uids[i]! }) }));
  }
  return replicas;
}

export async function stopAll(replicas: Iterable<ReplicaProcess>): Promise<void> {
  await Promise.all([...replicas].map((replica) => replica.kill('SIGKILL')));
}

/** A free-ish port range per test file, so files can run one after another without clashes. */
export function portBase(seed: string): number {
  let hash = 0;
  for (const char of seed) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return 20_000 + (hash % 2000) * 10;
}

export interface Exit {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs the bundle with exactly `env` (plus PATH) and waits, at most 15 s (a loaded machine), for it
 * to exit. The child is in `track` while it runs, for the test's own clean-up to kill.
 */
export function runToExit(env: Record<string, string>, track: Set<ChildProcess>): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bundlePath], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    track.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk) => (stdout += chunk));
    child.stderr!.on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the replica did not exit within 15 s with ${JSON.stringify(env)}; output: ${stdout}${stderr}`));
    }, 15_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      track.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
}
