// Starting a replica: bad SOCKET_ADDRESS / VIEW / FSYNC exit with code 2 and one line naming the variable;
// LISTEN_ADDRESS and the loopback default bind where the SPEC says; the bundle runs alone.
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bundlePath, portBase, runToExit, startReplica, stopAll, type Exit, type ReplicaProcess } from '../support/cluster.ts';
import { request, waitFor } from '../support/http.ts';

const port = portBase('startup');
const replicas: ReplicaProcess[] = [];
const children = new Set<ChildProcess>();
const tempDirs: string[] = [];

function killChildren(): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}
process.once('exit', killChildren);

test.after(async () => {
  killChildren();
  await stopAll(replicas);
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/** Whether a TCP connection to `address` is accepted (false when refused). */
function accepts(address: string): Promise<boolean> {
  const [host, p] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port: p });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connecting to ${address} neither succeeded nor was refused within 2 s`));
    }, 2000);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(true);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (error.code === 'ECONNREFUSED') resolve(false);
      else reject(error);
    });
  });
}

const self = `127.0.26.1:${port}`;
const bad: [string, Record<string, string>, string][] = [
  ['SOCKET_ADDRESS missing', { VIEW: self }, 'SOCKET_ADDRESS'],
  ['SOCKET_ADDRESS without a port', { SOCKET_ADDRESS: '127.0.26.1', VIEW: self }, 'SOCKET_ADDRESS'],
  ['SOCKET_ADDRESS with port 99999', { SOCKET_ADDRESS: '127.0.26.1:99999', VIEW: self }, 'SOCKET_ADDRESS'],
  ['SOCKET_ADDRESS nonsense', { SOCKET_ADDRESS: 'not an address', VIEW: self }, 'SOCKET_ADDRESS'],
  ['SOCKET_ADDRESS with an IPv4 octet over 255', { SOCKET_ADDRESS: '999.1.1.1:8090', VIEW: self }, 'SOCKET_ADDRESS'],
  ['VIEW missing', { SOCKET_ADDRESS: self }, 'VIEW'],
  ['VIEW nonsense', { SOCKET_ADDRESS: self, VIEW: 'garbage' }, 'VIEW'],
  ['VIEW with one bad member', { SOCKET_ADDRESS: self, VIEW: `${self},127.0.26.2` }, 'VIEW'],
  ['VIEW separated by semicolons', { SOCKET_ADDRESS: self, VIEW: `${self};127.0.26.2:${port}` }, 'VIEW'],
  ['VIEW empty', { SOCKET_ADDRESS: self, VIEW: '' }, 'VIEW'],
  ['FSYNC neither batch nor off', { SOCKET_ADDRESS: self, VIEW: self, FSYNC: 'always' }, 'FSYNC'],
];

// The bad starts run before the tests, three at a time (each loads the whole bundle and the
// machine may be busy); the tests below look at their outcomes.
let exits: Promise<(Exit | Error)[]> | undefined;
test.before(() => {
  const results: (Exit | Error)[] = [];
  let next = 0;
  const worker = async () => {
    while (next < bad.length) {
      const i = next++;
      results[i] = await runToExit(bad[i]![1], children).catch((error: Error) => error);
    }
  };
  exits = Promise.all([worker(), worker(), worker()]).then(() => results);
});

for (const [i, [name, , variable]] of bad.entries()) {
  test(`${name}: exits with code 2 and one line naming ${variable}`, async () => {
    const exit = (await exits!)[i]!;
    if (exit instanceof Error) throw exit;
    assert.is(exit.code, 2, `exit code; output: ${exit.stdout}${exit.stderr}`);
    const output = (exit.stdout + exit.stderr).trim();
    assert.ok(output.length > 0, 'some message');
    assert.not.ok(output.includes('\n'), `one line only, got:\n${output}`);
    assert.ok(output.includes(variable), `the message names ${variable}: ${output}`);
    if (variable === 'VIEW') assert.not.ok(output.includes('SOCKET_ADDRESS'), `blames VIEW, not SOCKET_ADDRESS: ${output}`);
  });
}

test('with SOCKET_ADDRESS on 127.0.0.x it listens on exactly that address, so another replica can share the port', async () => {
  const first = `127.0.26.1:${port + 1}`;
  const second = `127.0.26.2:${port + 1}`;
  replicas.push(await startReplica({ address: first, view: [first] }));
  assert.ok(await accepts(first), 'its own address accepts');
  assert.not.ok(await accepts(second), 'the same port on another loopback address is refused');
  replicas.push(await startReplica({ address: second, view: [second] }));
  assert.is((await request('GET', first, '/health')).body.from, first);
  assert.is((await request('GET', second, '/health')).body.from, second);
});

test('LISTEN_ADDRESS=0.0.0.0:PORT makes the replica reachable on 127.0.0.1:PORT too', async () => {
  const address = `127.0.26.3:${port + 2}`;
  replicas.push(await startReplica({ address, view: [address], env: { LISTEN_ADDRESS: `0.0.0.0:${port + 2}` } }));
  const viaLocalhost = await request('GET', `127.0.0.1:${port + 2}`, '/health');
  assert.is(viaLocalhost.status, 200);
  assert.is(viaLocalhost.body.from, address, 'it still calls itself by SOCKET_ADDRESS');
  assert.is((await request('GET', `127.0.26.4:${port + 2}`, '/view')).status, 200, 'any loopback address reaches it');
});

test('LISTEN_ADDRESS on another loopback address and port is where it listens; SOCKET_ADDRESS is what it reports', async () => {
  const announced = `127.0.26.5:${port + 3}`;
  const listen = `127.0.26.6:${port + 4}`;
  const child = spawn(process.execPath, [bundlePath], {
    env: { PATH: process.env.PATH ?? '', SOCKET_ADDRESS: announced, VIEW: announced, LISTEN_ADDRESS: listen },
    stdio: 'ignore',
  });
  children.add(child);
  await waitFor(`${listen} to answer /health`, async () => (await request('GET', listen, '/health', undefined, { timeoutMs: 500 })).status === 200, 10_000);
  assert.is((await request('GET', listen, '/health')).body.from, announced);
  assert.not.ok(await accepts(announced), 'nothing listens on SOCKET_ADDRESS itself');
  child.kill('SIGKILL');
});

test('the bundle copied alone into an empty directory runs with plain node and answers /health', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvs-bundle-'));
  tempDirs.push(dir);
  copyFileSync(bundlePath, join(dir, 'kvs.mjs'));
  assert.equal(readdirSync(dir), ['kvs.mjs']);
  const address = `127.0.26.7:${port + 5}`;
  const child = spawn(process.execPath, ['kvs.mjs'], {
    cwd: dir,
    // Nothing from this repository: no NODE_OPTIONS (no tsx loader), no NODE_PATH.
    env: { PATH: process.env.PATH ?? '', SOCKET_ADDRESS: address, VIEW: address },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  await waitFor(
    'the copied bundle to answer /health',
    async () => {
      if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}: ${output}`);
      return (await request('GET', address, '/health', undefined, { timeoutMs: 500 })).status === 200;
    },
    10_000,
  );
  const created = await request('PUT', address, '/kvs/alone', { value: 'works', 'causal-metadata': null });
  assert.is(created.status, 201, JSON.stringify(created.body));
  child.kill('SIGKILL');
});

test.run();
