// `npm start`: replicas from the bundle on 127.0.0.1:8082, 8083, ..., each with all of them in its
// VIEW; prints how to use them; Ctrl-C (or SIGTERM) stops them all.
//   node scripts/start-cluster.mjs [--nodes N] [--host IPV4] [--port FIRST]
//   npm start                                  3 replicas on 127.0.0.1:8082-8084 (unsharded)
//   SHARD_COUNT=2 npm start -- --nodes 6       6 nodes on 127.0.0.1:8082-8087 in 2 shards of 3
// The environment is passed on to every node (SHARD_COUNT, CAUSAL_WAIT_MS, ...; LOG_LEVEL defaults to
// warn here). --host and --port let a test run it on an address of its own (127.0.63.1, say).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const usage = `usage: node scripts/start-cluster.mjs [--nodes N] [--host IPV4] [--port FIRST]
  --nodes N      how many nodes to start (default 3; 1 to 64, the default VIEW_MEMBERS_MAX)
  --host IPV4    the address they all listen on (default 127.0.0.1)
  --port FIRST   the first node's port; the others follow it (default 8082)
environment: SHARD_COUNT=n makes the nodes a sharded cluster of n shards (at least 2 nodes per shard);
every other variable is passed on to the nodes as well (LOG_LEVEL defaults to warn).
with npm: SHARD_COUNT=2 npm start -- --nodes 6`;

/** A bad command line or environment: one line and the usage on stderr, exit code 2. */
function fail(message) {
  console.error(`start-cluster: ${message}\n${usage}`);
  process.exit(2);
}

function integer(text, what, min, max) {
  if (text === undefined || !/^[0-9]+$/.test(text)) fail(`${what} must be an integer from ${min} to ${max}, got ${JSON.stringify(text ?? '')}`);
  const value = Number(text);
  if (value < min || value > max) fail(`${what} must be an integer from ${min} to ${max}, got ${text}`);
  return value;
}

function parseArgs(argv) {
  const options = { nodes: '3', host: '127.0.0.1', port: '8082' };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') {
      console.log(usage);
      process.exit(0);
    }
    const match = /^--(nodes|host|port)(?:=(.*))?$/.exec(arg);
    if (match === null) fail(`unknown argument ${JSON.stringify(arg)}`);
    const value = match[2] ?? argv[++i];
    if (value === undefined) fail(`--${match[1]} needs a value`);
    options[match[1]] = value;
  }
  const nodes = integer(options.nodes, '--nodes', 1, 64);
  const port = integer(options.port, '--port', 1, 65535 - nodes + 1);
  const octets = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(options.host);
  if (octets === null || octets.slice(1).some((octet) => Number(octet) > 255)) fail(`--host must be an IPv4 address such as 127.0.0.1, got ${JSON.stringify(options.host)}`);
  return { nodes, host: options.host, port };
}

const { nodes, host, port } = parseArgs(process.argv.slice(2));
const shardText = process.env.SHARD_COUNT ?? '';
const shardCount = shardText === '' ? undefined : integer(shardText, 'SHARD_COUNT', 1, 32);
if (shardCount !== undefined && nodes < 2 * shardCount) {
  fail(`SHARD_COUNT=${shardCount} needs at least ${2 * shardCount} nodes (2 per shard); got ${nodes}: add --nodes ${2 * shardCount} (npm start -- --nodes ${2 * shardCount})`);
}

const bundle = fileURLToPath(new URL('../dist/kvs.mjs', import.meta.url));
const addresses = Array.from({ length: nodes }, (_, i) => `${host}:${port + i}`);
const view = addresses.join(',');
/** How long the nodes get to exit after SIGTERM before they are killed. */
const stopBoundMs = 8000;

let stopping = false;
let exitCode = 0;
const children = addresses.map((address) => {
  const child = spawn(process.execPath, [bundle], {
    env: { ...process.env, SOCKET_ADDRESS: address, VIEW: view, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  child.on('exit', (code, signal) => {
    if (!stopping) {
      console.error(`node ${address} exited (${signal ?? code}); stopping the cluster`);
      exitCode = 1;
    }
    stop();
  });
  return child;
});

const running = () => children.filter((child) => child.exitCode === null && child.signalCode === null);

/** SIGTERM to every node still running, by PID; those still there after `stopBoundMs` get SIGKILL. Exits once all are gone. */
function stop() {
  if (!stopping) {
    stopping = true;
    for (const child of running()) child.kill('SIGTERM');
    setTimeout(() => {
      for (const child of running()) child.kill('SIGKILL');
    }, stopBoundMs).unref();
  }
  if (running().length === 0) process.exit(exitCode);
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

const [first, second] = [addresses[0], addresses[1] ?? addresses[0]];
const last = addresses[addresses.length - 1];
const cli = host === '127.0.0.1' && port === 8082 ? '' : `KVS_REPLICAS=${addresses.slice(0, 3).join(',')} `;
const json = `-H 'Content-Type: application/json'`;
/** A reshard worth trying: one shard more when the nodes allow it, else one fewer. */
const reshardTo = shardCount === undefined ? 0 : nodes >= 2 * (shardCount + 1) ? shardCount + 1 : Math.max(1, shardCount - 1);

if (shardCount === undefined) {
  console.log(`causal-kvs: ${nodes} replica${nodes === 1 ? '' : 's'} running on ${addresses.join(', ')}  (Ctrl-C stops them)

  curl -s -X PUT http://${first}/kvs/x ${json} -d '{"value": 1, "causal-metadata": null}'
  # copy the "causal-metadata" from the answer into the next request:
  curl -s -X GET http://${second}/kvs/x ${json} -d '{"causal-metadata": <metadata from above>}'
  curl -s http://${last}/view
  curl -s http://${first}/debug/state

  ${cli}npm run -s kvs -- put x 1        # the CLI carries the causal metadata for you (kvs help)
  ${cli}npm run -s kvs -- get x
  open http://${first}/debug in a browser for the live view, links and a space-time diagram
`);
} else {
  console.log(`causal-kvs: ${nodes} nodes in ${shardCount} shard${shardCount === 1 ? '' : 's'} running on ${host}:${port}-${port + nodes - 1}  (Ctrl-C stops them)

  curl -s http://${first}/shard/ids                 # {"shard-ids": [1, ...]}
  curl -s http://${first}/shard/members/1           # the nodes of shard 1, sorted
  curl -s http://${last}/shard/node-shard-id        # the shard of the node asked
  curl -s http://${first}/shard/key-count/1
  curl -s -X PUT http://${first}/kvs/x ${json} -d '{"value": 1, "causal-metadata": null}'
  # any node serves any key (forwarded to its shard, answer with "shard-id"); copy the metadata on:
  curl -s -X GET http://${last}/kvs/x ${json} -d '{"causal-metadata": <metadata from above>}'
  curl -s -X PUT http://${first}/shard/reshard ${json} -d '{"shard-count": ${reshardTo}}'

  ${cli}npm run -s kvs -- put x 1        # the CLI carries the causal metadata for you (kvs help)
  ${cli}npm run -s kvs -- get x
  the API, sharding included: docs/API.md#sharding
`);
}
