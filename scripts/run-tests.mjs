// Runs every test file, each in its own process, and prints one closing line "N passed, N failed".
//   node scripts/run-tests.mjs [layer ...]    layers: unit simulation integration fault (default: all)
// Fault tests run inside a private network namespace (unshare -n) and need root and nft; when nft
// is missing and we are root, it is installed from Debian's packages first.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

const layers = ['unit', 'simulation', 'integration', 'fault'];
const wanted = process.argv.slice(2).length > 0 ? process.argv.slice(2) : layers;
for (const layer of wanted) {
  if (!layers.includes(layer)) {
    console.error(`unknown test layer ${layer}; use ${layers.join(', ')}`);
    process.exit(2);
  }
}

function ensureFaultTools() {
  const have = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
  if (have('nft') && have('unshare') && have('ip')) return;
  if (process.getuid?.() !== 0) throw new Error('fault tests need nft, unshare and ip (Debian: nftables, util-linux, iproute2) and root');
  console.log('# installing nftables and iproute2 for the fault tests');
  for (const args of [['update', '-qq'], ['install', '-y', '-qq', 'nftables', 'iproute2', 'util-linux']]) {
    const result = spawnSync('apt-get', args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    if (result.status !== 0) throw new Error(`apt-get ${args.join(' ')} failed`);
  }
}

function filesOf(layer) {
  const dir = join('test', layer);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => name.endsWith('.test.ts'))
    .sort()
    .map((name) => join(dir, name));
}

/**
 * How many files of a layer run at a time, each file's output printed whole when it ends. Unit test
 * files are pure computation (no ports, no timing): as many as there are cores. Fault test files
 * each run in a network namespace of their own (their loopback addresses and nft rules are theirs
 * alone) and mostly wait on real time (cuts, hold-downs, restarts): two at a time. Simulation and
 * integration files share the machine's loopback addresses: one at a time.
 */
const parallelism = { unit: Math.max(1, availableParallelism()), fault: 2 };
/**
 * Files that take far longer than the rest of their layer (a minute or more), started first so
 * the others fill the remaining lanes around them instead of one of them ending the layer alone.
 */
const longestFiles = ['test/fault/nemesis-random-faults.test.ts', 'test/fault/course-reattach.test.ts'];

function run(file, layer, buffered) {
  const node = [process.execPath, '--import', 'tsx', file];
  const [command, ...args] = layer === 'fault' ? ['unshare', '-n', '--', ...node] : node;
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0' } });
    let output = '';
    let errors = '';
    child.stdout.on('data', (chunk) => {
      output += chunk;
      if (!buffered) process.stdout.write(chunk);
    });
    child.stderr.on('data', (chunk) => (buffered ? (errors += chunk) : process.stderr.write(chunk)));
    child.on('exit', (code, signal) => {
      if (buffered) {
        process.stdout.write(`\n# ${file}\n${output}`);
        process.stderr.write(errors);
      }
      const passed = Number(/Passed:\s+(\d+)/.exec(output)?.[1] ?? 0);
      const total = Number(/Total:\s+(\d+)/.exec(output)?.[1] ?? 0);
      const failedFile = code !== 0 || signal !== null;
      resolve({ file, passed, failed: Math.max(total - passed, failedFile ? 1 : 0), seconds: (Date.now() - started) / 1000 });
    });
  });
}

const results = [];
for (const layer of wanted) {
  const files = filesOf(layer);
  if (files.length === 0) continue;
  if (layer === 'fault') ensureFaultTools();
  const parallel = parallelism[layer] ?? 1;
  console.log(`\n# ${layer}: ${files.length} file(s)${parallel > 1 ? `, ${parallel} at a time` : ''}`);
  const queue = [...files.filter((file) => longestFiles.includes(file)), ...files.filter((file) => !longestFiles.includes(file))];
  const layerResults = [];
  await Promise.all(
    Array.from({ length: Math.min(parallel, files.length) }, async () => {
      for (let file = queue.shift(); file !== undefined; file = queue.shift()) layerResults.push(await run(file, layer, parallel > 1));
    }),
  );
  results.push(...layerResults.sort((a, b) => (a.file < b.file ? -1 : 1)));
}

const passed = results.reduce((sum, r) => sum + r.passed, 0);
const failed = results.reduce((sum, r) => sum + r.failed, 0);
console.log('\n# per file');
for (const r of results) console.log(`${r.failed === 0 ? 'ok  ' : 'FAIL'} ${r.file} (${r.passed} passed, ${r.failed} failed, ${r.seconds.toFixed(1)} s)`);
if (results.length === 0) {
  console.log('no test files found');
  process.exit(1);
}
console.log(`\n${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
