// A broken invariant (src/core/assert.ts InvariantViolation) ends the replica process: exit code 70
// after one pino fatal line naming it, whether it is met inside a request handler (which is not
// answered) or in a timer. The replica runs from source (src/main.ts) with a preloaded module that
// breaks the invariant on purpose (test/support/break-invariant.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { portBase } from '../support/cluster.ts';
import { request, waitFor } from '../support/http.ts';

const port = portBase('invariant-crash');
const mainPath = fileURLToPath(new URL('../../src/main.ts', import.meta.url));
const breakerPath = fileURLToPath(new URL('../support/break-invariant.ts', import.meta.url));
const children = new Set<ChildProcess>();

function killChildren(): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}
process.once('exit', killChildren);
test.after(killChildren);

interface Replica {
  readonly address: string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly output: () => string;
}

function startBroken(where: 'request' | 'timer', address: string): Replica {
  const child = spawn(process.execPath, ['--import', 'tsx', '--import', breakerPath, mainPath], {
    env: { PATH: process.env.PATH ?? '', SOCKET_ADDRESS: address, VIEW: address, LOG_LEVEL: 'info', COMPACTION_INTERVAL_MS: '100', BREAK_INVARIANT: where },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return { address, exited, output: () => output };
}

/** Waits at most 15 s (a loaded machine) for the process to exit. */
async function exitOf(replica: Replica): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`still running after 15 s:\n${replica.output()}`)), 15_000)));
  try {
    return await Promise.race([replica.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function fatalLines(output: string): Record<string, any>[] {
  return output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, any>)
    .filter((line) => line.level === 60);
}

test('an InvariantViolation inside a request handler: no answer, one fatal line, exit 70', async () => {
  const replica = startBroken('request', `127.0.31.1:${port}`);
  await waitFor('the replica to answer /health', async () => (await request('GET', replica.address, '/health', undefined, { timeoutMs: 500 })).status === 200, 15_000);
  let answered: unknown;
  try {
    answered = await request('GET', replica.address, '/kvs/k', undefined, { timeoutMs: 5000 });
  } catch {
    // no answer: the connection went with the process
  }
  assert.is(answered, undefined, `the request must get no answer, got ${JSON.stringify(answered)}`);
  const { code } = await exitOf(replica);
  assert.is(code, 70, replica.output());
  const fatal = fatalLines(replica.output());
  assert.is(fatal.length, 1, replica.output());
  assert.is(fatal[0]!.err.type, 'InvariantViolation');
  assert.is(fatal[0]!.err.message, 'invariant violated: broken on purpose in a request');
  assert.is(fatal[0]!.method, 'GET');
  assert.is(fatal[0]!.path, '/kvs/k');
  assert.not.match(replica.output(), /"unexpected error"/);
});

test('an InvariantViolation in a timer: one fatal line, exit 70', async () => {
  const replica = startBroken('timer', `127.0.31.2:${port + 1}`);
  const { code } = await exitOf(replica);
  assert.is(code, 70, replica.output());
  const fatal = fatalLines(replica.output());
  assert.is(fatal.length, 1, replica.output());
  assert.is(fatal[0]!.err.message, 'invariant violated: broken on purpose in a timer');
});

test.run();
