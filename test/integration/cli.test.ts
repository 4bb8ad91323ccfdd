// The `kvs` CLI against a real 3-replica cluster: put/get/delete/view in human and --json form,
// the session file keeping successive commands causal, watch-log, and the exit codes (1 not found,
// 2 usage, 3 unavailable, 4 error). The main paths run the bundle dist/kvs-cli.mjs as separate
// processes, as a user would; the many small variations call the same main() in-process (a node
// start costs seconds on a loaded machine).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import { main } from '../../src/client/cli-main.ts';
import * as assert from 'uvu/assert';
import { portBase, startReplica, stopAll, type ReplicaProcess } from '../support/cluster.ts';
import { waitFor } from '../support/http.ts';

const cliPath = fileURLToPath(new URL('../../dist/kvs-cli.mjs', import.meta.url));
const port = portBase('cli');
const addresses = [1, 2, 3].map((i) => `127.0.62.${i}:${port + i - 1}`);
const [A, B, C] = addresses as [string, string, string];
const nowhere = `127.0.62.200:${port + 9}`;
const unsatisfiable = { '127.0.0.9:9/abc': 5 };

const replicas: ReplicaProcess[] = [];
const dir = mkdtempSync(join(tmpdir(), 'kvs-cli-test-'));
const sessionFile = join(dir, '.kvs-session.json');

test.before(async () => {
  if (!existsSync(cliPath)) throw new Error(`${cliPath} is missing: run node build.mjs first`);
  // C answers 503 at once when it lacks a dependency. Events leave the log within about 100 ms of
  // being everywhere, often before watch-log's next poll: it sees them because a replica whose log
  // is being read keeps what it compacts for a few seconds (src/core/recently-folded.ts).
  const env = { COMPACTION_INTERVAL_MS: '100' };
  const started = await Promise.allSettled([
    startReplica({ address: A, view: addresses, env }),
    startReplica({ address: B, view: addresses, env }),
    startReplica({ address: C, view: addresses, env: { ...env, CAUSAL_WAIT_MS: '0' } }),
  ]);
  for (const result of started) if (result.status === 'fulfilled') replicas.push(result.value);
  for (const result of started) if (result.status === 'rejected') throw result.reason;
});

test.after(async () => {
  await stopAll(replicas);
  rmSync(dir, { recursive: true, force: true });
});

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

interface RunOptions {
  readonly env?: Record<string, string>;
  /** Run the file itself (its #! line) instead of `node file`. */
  readonly direct?: boolean;
}

type Running = Promise<Run> & { onStderr: (listener: (text: string) => void) => void };

/** Runs the bundled CLI as its own process in `dir` (so the default session file is `sessionFile`), KVS_REPLICAS = the cluster. */
function kvsProcess(args: readonly string[], options: RunOptions = {}): Running {
  const [command, argv] = options.direct ? [cliPath, args] : [process.execPath, [cliPath, ...args]];
  const child = spawn(command, argv, {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', KVS_REPLICAS: addresses.join(','), ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const listeners: ((text: string) => void)[] = [];
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
    for (const listener of listeners) listener(stderr);
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const done = new Promise<Run>((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
  return Object.assign(done, { onStderr: (listener: (text: string) => void) => listeners.push(listener) });
}

/** Runs the same command line in this process through main(), with the same environment. */
function kvs(args: readonly string[], options: { env?: Record<string, string> } = {}): Running {
  let stdout = '';
  let stderr = '';
  const listeners: ((text: string) => void)[] = [];
  const io = {
    out: (line: string) => (stdout += `${line}\n`),
    err: (line: string) => {
      stderr += `${line}\n`;
      for (const listener of listeners) listener(stderr);
    },
  };
  const env = { KVS_REPLICAS: addresses.join(','), KVS_SESSION: sessionFile, ...options.env };
  const done = main(args, env, io).then((code) => ({ code, stdout, stderr }));
  return Object.assign(done, { onStderr: (listener: (text: string) => void) => listeners.push(listener) });
}

function expectRun(run: Run, code: number, stdout?: string, what = ''): void {
  const shown = `${what}: exit ${run.code}, stdout ${JSON.stringify(run.stdout)}, stderr ${JSON.stringify(run.stderr)}`;
  assert.is(run.code, code, shown);
  if (stdout !== undefined) assert.is(run.stdout, stdout, shown);
}

const json = (run: Run) => JSON.parse(run.stdout) as Record<string, unknown>;
const sessionMetadata = () => JSON.parse(readFileSync(sessionFile, 'utf8'))['causal-metadata'];

test('help, and the bundle runs by its #! line', async () => {
  const run = await kvsProcess(['help'], { direct: true });
  expectRun(run, 0, undefined, 'help');
  assert.ok(run.stdout.includes('usage: kvs'), run.stdout);
  for (const command of ['get KEY', 'put KEY VALUE', 'delete KEY', 'view', 'watch-log']) assert.ok(run.stdout.includes(command), command);
  expectRun(await kvs(['--help']), 0, run.stdout, '--help');
});

test('put, get, delete in human form; VALUE is JSON when it parses, else text', async () => {
  expectRun(await kvsProcess(['put', 'x', '1']), 0, 'created x\n', 'put x 1');
  assert.type(sessionMetadata(), 'object', 'the session file (default: ./.kvs-session.json) holds the metadata');
  expectRun(await kvsProcess(['get', 'x']), 0, 'x = 1\n', 'get x');
  expectRun(await kvs(['put', 'x', 'hello world']), 0, 'replaced x\n', 'put text');
  expectRun(await kvs(['get', 'x']), 0, 'x = "hello world"\n', 'get text');
  expectRun(await kvs(['put', '--string', 'n', '5']), 0, 'created n\n', 'put --string');
  expectRun(await kvs(['get', 'n']), 0, 'n = "5"\n', 'get a string that looks like a number');
  expectRun(await kvs(['put', 'o', '{"a": [1, "two"]}']), 0, 'created o\n', 'put object');
  expectRun(await kvs(['get', 'o']), 0, 'o = {"a":[1,"two"]}\n', 'get object');
  expectRun(await kvs(['put', 'neg', '-1']), 0, 'created neg\n', 'a negative number is a value, not an option');
  expectRun(await kvs(['get', 'neg']), 0, 'neg = -1\n', 'get neg');
  expectRun(await kvs(['delete', 'x']), 0, 'deleted x\n', 'delete');
  const missing = await kvs(['get', 'x']);
  expectRun(missing, 1, '', 'get deleted');
  assert.ok(missing.stderr.includes('not found: x'), missing.stderr);
  const again = await kvsProcess(['delete', 'x']);
  expectRun(again, 1, '', 'delete again');
  assert.ok(again.stderr.includes('not found: x'), again.stderr);
});

test('--json prints the answers as JSON', async () => {
  const put = await kvs(['--json', 'put', 'j', '{"v": true}']);
  expectRun(put, 0, undefined, 'put --json');
  assert.equal({ ...json(put), replica: undefined }, { key: 'j', result: 'created', replica: undefined });
  assert.is(json(await kvs(['put', 'j', '2', '--json'])).result, 'replaced', 'options may come after the command');
  const got = await kvs(['get', 'j', '--json']);
  expectRun(got, 0, undefined, 'get --json');
  assert.equal({ ...json(got), replica: undefined }, { key: 'j', found: true, value: 2, replica: undefined });
  assert.ok(addresses.includes(json(got).replica as string));
  assert.is(json(await kvs(['--json', 'delete', 'j'])).result, 'deleted');
  const missing = await kvs(['--json', 'get', 'j']);
  expectRun(missing, 1, undefined, 'get missing --json');
  assert.is(json(missing).found, false);
  const notDeleted = await kvs(['--json', 'delete', 'j']);
  expectRun(notDeleted, 1, undefined, 'delete missing --json');
  assert.is(json(notDeleted).result, 'not-found');
});

test('view, human and --json', async () => {
  const [human, asJson] = await Promise.all([kvs(['view']), kvs(['view', '--json'])]);
  expectRun(human, 0, undefined, 'view');
  assert.equal(human.stdout.trim().split('\n').sort(), [...addresses].sort());
  expectRun(asJson, 0, undefined, 'view --json');
  assert.equal((json(asJson).view as string[]).sort(), [...addresses].sort());
});

test('the session file keeps successive commands causal, whichever replica they reach', async () => {
  for (let i = 0; i < 2; i++) {
    expectRun(await kvsProcess(['--replicas', A, 'put', `s${i}`, String(i)]), 0, `created s${i}\n`, `put s${i} at A`);
    // C answers 503 until the write has reached it; the CLI retries, and must not say "not found".
    expectRun(await kvsProcess(['--replicas', C, 'get', `s${i}`]), 0, `s${i} = ${i}\n`, `get s${i} at C`);
  }
  // The file's metadata is what is sent: metadata C can never satisfy makes the command give up...
  writeFileSync(sessionFile, JSON.stringify({ 'causal-metadata': unsatisfiable }));
  const stuck = await kvsProcess(['--replicas', C, '--timeout', '800', 'get', 's0']);
  expectRun(stuck, 3, '', 'unsatisfiable session');
  assert.ok(stuck.stderr.includes('unavailable'), stuck.stderr);
  assert.ok(stuck.stderr.includes('Causal dependencies not satisfied'), stuck.stderr);
  assert.equal(sessionMetadata(), unsatisfiable, 'a failed command leaves the session as it was');
  // ...while without the session file the same read is served.
  expectRun(await kvs(['--replicas', C, '--no-session', 'get', 's0']), 0, 's0 = 0\n', '--no-session');
  // --session and KVS_SESSION choose another file.
  const other = join(dir, 'other-session.json');
  expectRun(await kvs(['--session', other, 'put', 's-other', '1']), 0, 'created s-other\n', '--session');
  assert.type(JSON.parse(readFileSync(other, 'utf8'))['causal-metadata'], 'object');
  expectRun(await kvs(['get', 's-other'], { env: { KVS_SESSION: other } }), 0, 's-other = 1\n', 'KVS_SESSION');
  rmSync(sessionFile);
});

test('exit code 2 for usage errors, with a message on stderr', async () => {
  const cases: [string[], string][] = [
    [[], 'no command'],
    [['frob'], 'unknown command'],
    [['get'], 'get takes KEY'],
    [['get', 'a', 'b'], 'get takes KEY'],
    [['put', 'k'], 'put takes KEY VALUE'],
    [['put', 'k', 'null'], 'null is not a value'],
    [['--bogus', 'view'], 'unknown option --bogus'],
    [['--replicas', 'not-an-address', 'view'], 'is not IP:PORT'],
    [['--string', 'get', 'k'], '--string only applies to put'],
    [['watch-log', '--count', 'zero'], '--count takes a positive integer'],
  ];
  // Independent of each other: run them side by side (one as its own process, for the real exit code).
  const [badEnv, ...runs] = await Promise.all([kvsProcess(['view'], { env: { KVS_REPLICAS: 'nope' } }), ...cases.map(([args]) => kvs(args))]);
  for (const [i, [args, message]] of cases.entries()) {
    const run = runs[i]!;
    expectRun(run, 2, '', args.join(' '));
    assert.ok(run.stderr.includes(message), `${args.join(' ')}: ${run.stderr}`);
  }
  expectRun(badEnv, 2, '', 'bad KVS_REPLICAS');
  assert.ok(badEnv.stderr.includes('KVS_REPLICAS'), badEnv.stderr);
  writeFileSync(sessionFile, 'not json');
  const corrupt = await kvs(['get', 'k']);
  expectRun(corrupt, 2, '', 'corrupt session file');
  assert.ok(corrupt.stderr.includes('delete it'), corrupt.stderr);
  rmSync(sessionFile);
});

test('exit code 3 when no replica is reachable, 4 when a replica refuses the request', async () => {
  const [unreachable, asJson, refused, refusedJson] = await Promise.all([
    kvsProcess(['--replicas', nowhere, '--timeout', '800', '--no-session', 'get', 'k']),
    kvs(['--replicas', nowhere, '--timeout', '800', '--no-session', '--json', 'get', 'k']),
    kvsProcess(['--no-session', 'put', 'k'.repeat(51), '1']),
    kvs(['--no-session', '--json', 'put', 'k'.repeat(51), '1']),
  ]);
  expectRun(unreachable, 3, '', 'unreachable');
  assert.ok(unreachable.stderr.includes('no replica reachable'), unreachable.stderr);
  expectRun(asJson, 3, undefined, 'unreachable --json');
  assert.is(json(asJson).kind, 'unavailable');
  expectRun(refused, 4, '', 'key too long');
  assert.ok(refused.stderr.includes('Key is too long'), refused.stderr);
  expectRun(refusedJson, 4, undefined, 'key too long --json');
  assert.equal({ ...json(refusedJson), error: undefined }, { error: undefined, kind: 'rejected', status: 400 });
});

test('watch-log prints new events as they happen, and stops after --count', async () => {
  const watcher = kvsProcess(['--replicas', B, '--json', 'watch-log', '--interval', '100', '--count', '3']);
  let watching = false;
  watcher.onStderr((text) => (watching ||= text.includes('watching')));
  await waitFor('the watcher to start', () => watching, 20_000);
  expectRun(await kvs(['--replicas', A, 'put', 'w1', '1']), 0, 'created w1\n');
  expectRun(await kvs(['--replicas', C, 'put', 'w2', '"two"']), 0, 'created w2\n');
  expectRun(await kvs(['--replicas', A, 'delete', 'w1']), 0, 'deleted w1\n');
  const run = await watcher;
  expectRun(run, 0, undefined, 'watch-log --json');
  const events = run.stdout.trim().split('\n').map((line) => JSON.parse(line));
  assert.equal(
    events.map((event) => [event.type, event.key, event.value]),
    [
      ['put', 'w1', 1],
      ['put', 'w2', 'two'],
      ['delete', 'w1', undefined],
    ],
    'in causal order (the session made them one after another)',
  );
  assert.ok(events[0].origin.startsWith(`${A}/`) && events[1].origin.startsWith(`${C}/`), JSON.stringify(events));

  const human = kvs(['watch-log', '--interval', '100', '--count', '1']);
  let ready = false;
  human.onStderr((text) => (ready ||= text.includes('watching')));
  await waitFor('the watcher to start', () => ready, 20_000);
  expectRun(await kvs(['put', 'w3', '[1]']), 0, 'created w3\n');
  const line = (await human).stdout;
  assert.match(line, /^\S+#\d+ {2}put w3 = \[1\]\n$/, line);
});

test.run();
