// scripts/start-cluster.mjs (npm start) with SHARD_COUNT=2 and --nodes 6: six nodes from the bundle form
// 2 shards of 3, answer /shard/ids and serve a key at any node; SIGINT to the script stops every node.
// Bad arguments exit 2 with one line. On an address of its own (--host, --port), so it never meets a
// cluster of `npm start` on 127.0.0.1:8082-8084.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bundlePath, portBase } from '../support/cluster.ts';
import { get, put, request, waitFor } from '../support/http.ts';
import { expectAnswer } from './common.ts';

const script = fileURLToPath(new URL('../../scripts/start-cluster.mjs', import.meta.url));
const host = '127.0.63.1';
const port = portBase('start-cluster-sharded');
const addresses = Array.from({ length: 6 }, (_, i) => `${host}:${port + i}`);

/** Every process this file started, the script's nodes included once known: killed by PID however the file ends. */
const pids = new Set<number>();
function killLeft(): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
process.once('exit', killLeft);
test.after(killLeft);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The PIDs of the processes whose parent is `parent` (read from /proc). */
function childrenOf(parent: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may hold spaces, so read after its closing parenthesis.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === parent) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

interface Run {
  readonly child: ChildProcess;
  output: string;
  readonly exited: Promise<number | null>;
}

function runScript(args: readonly string[], env: Record<string, string>): Run {
  const child = spawn(process.execPath, [script, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  pids.add(child.pid!);
  const run: Run = { child, output: '', exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))) };
  child.stdout!.on('data', (chunk) => (run.output += chunk));
  child.stderr!.on('data', (chunk) => (run.output += chunk));
  return run;
}

/** Waits at most `ms` for the run to exit; its exit code. */
async function exitWithin(run: Run, ms: number): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)));
  const code = await Promise.race([run.exited, timeout]);
  clearTimeout(timer);
  if (code === 'timeout') throw new Error(`start-cluster did not exit within ${ms} ms; output:\n${run.output}`);
  return code;
}

test('bad arguments exit 2 with one line, starting nothing', async () => {
  const cases: [string[], Record<string, string>, RegExp][] = [
    [['--nodes', 'six'], {}, /--nodes must be an integer from 1 to 64, got "six"/],
    [['--nodes'], {}, /--nodes needs a value/],
    [['--nodes', '3', '--host', host, '--port', String(port)], { SHARD_COUNT: '2' }, /SHARD_COUNT=2 needs at least 4 nodes \(2 per shard\); got 3/],
    [['--nodes', '6'], { SHARD_COUNT: 'two' }, /SHARD_COUNT must be an integer/],
    [['--host', 'localhost:1'], {}, /--host must be an IPv4 address/],
    [['--shards', '2'], {}, /unknown argument "--shards"/],
  ];
  for (const [args, env, message] of cases) {
    const run = runScript(args, env);
    assert.is(await exitWithin(run, 10_000), 2, `${args.join(' ')}: ${run.output}`);
    assert.match(run.output, message);
    assert.ok(run.output.startsWith('start-cluster: '), run.output);
  }
});

test('SHARD_COUNT=2 --nodes 6: two shards of three at every node, a key served anywhere; SIGINT stops every node', async () => {
  assert.ok(existsSync(bundlePath), `${bundlePath} is missing: run npm run build first`);
  const run = runScript(['--nodes', '6', '--host', host, '--port', String(port)], { SHARD_COUNT: '2', LOG_LEVEL: 'warn' });
  try {
    for (const address of addresses) {
      await waitFor(
        `${address} to answer /shard/ids`,
        async () => {
          if (run.child.exitCode !== null) throw new Error(`start-cluster exited early:\n${run.output}`);
          const answer = await request('GET', address, '/shard/ids', undefined, { timeoutMs: 1000 }).catch(() => undefined);
          return answer?.status === 200;
        },
        20_000,
      );
      expectAnswer(await request('GET', address, '/shard/ids'), 200, { 'shard-ids': [1, 2] }, address);
    }
    assert.match(run.output, `6 nodes in 2 shards running on ${host}:${port}-${port + 5}`);
    assert.match(run.output, `curl -s http://${addresses[0]}/shard/ids`);
    const members: string[] = [];
    for (const id of [1, 2]) {
      const answer = await request('GET', addresses[5]!, `/shard/members/${id}`);
      assert.is(answer.status, 200);
      assert.is(answer.body['shard-members'].length, 3, JSON.stringify(answer.body));
      members.push(...answer.body['shard-members']);
    }
    assert.equal(members.sort(), [...addresses].sort());

    const written = await put(addresses[0]!, 'x', 1);
    assert.ok(written.status === 201, `PUT x: ${written.status} ${JSON.stringify(written.body)}`);
    const read = await get(addresses[5]!, 'x', written.body['causal-metadata']);
    assert.is(read.status, 200, `GET x: ${JSON.stringify(read.body)}`);
    assert.is(read.body.value, 1);
    assert.is(read.body['shard-id'], written.body['shard-id']);

    const nodes = childrenOf(run.child.pid!);
    assert.is(nodes.length, 6, `the script's children: ${nodes}`);
    for (const pid of nodes) pids.add(pid);
    run.child.kill('SIGINT');
    assert.is(await exitWithin(run, 15_000), 0, run.output);
    await waitFor('every node to be gone', () => nodes.every((pid) => !alive(pid)), 5000);
  } finally {
    killLeft();
  }
});

test.run();
