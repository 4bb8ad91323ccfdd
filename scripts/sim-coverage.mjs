// Which named functions of the replica (src/core, src/node, events/) the simulation calls. Every
// file of those folders and test/simulation are bundled by esbuild (with a source map, so each
// function V8 saw is traced back to its line in our sources), the bundle runs under V8's precise
// coverage, and each named function of our sources (found by the TypeScript parser) counts as
// called when a function starting on its line ran. Not a test; it asserts nothing.
//   node scripts/sim-coverage.mjs         (SIM_SEEDS=50 by default; LIST=1 names the functions never called)
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import ts from 'typescript';

const root = join(fileURLToPath(new URL('.', import.meta.url)), '..');
const folders = ['src/core/', 'src/node/', 'events/'];
const work = join(root, 'node_modules', '.cache', 'sim-coverage');
rmSync(work, { recursive: true, force: true });
mkdirSync(join(work, 'v8'), { recursive: true });
const files = folders.flatMap((folder) =>
  readdirSync(join(root, folder))
    .filter((name) => name.endsWith('.ts'))
    .map((name) => join(root, folder, name)),
);
const bundle = join(work, 'simulation.mjs');
// Every file is imported first, so functions of files the simulation never touches count too.
const entry = [...files, join(root, 'test/simulation/simulation.test.ts')].map((file) => `import ${JSON.stringify(file)};`).join('\n');
await build({
  stdin: { contents: entry, resolveDir: root, loader: 'ts' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: 'external',
  outfile: bundle,
  logLevel: 'error',
});
const run = spawnSync(process.execPath, [bundle], {
  cwd: root,
  stdio: ['ignore', 'ignore', 'inherit'],
  env: { ...process.env, NODE_V8_COVERAGE: join(work, 'v8'), SIM_SEEDS: process.env.SIM_SEEDS ?? '50' },
});
if (run.status !== 0) console.log(`(the simulation exited with ${run.status}; counting what ran anyway)`);

// Lines of our sources where a function that ran starts.
const text = readFileSync(bundle, 'utf8');
const lineStarts = [0];
for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) lineStarts.push(i + 1);
const map = new SourceMap(JSON.parse(readFileSync(`${bundle}.map`, 'utf8')));
const ranLines = new Set();
const bundleUrl = pathToFileURL(bundle).href;
for (const name of readdirSync(join(work, 'v8'))) {
  for (const script of JSON.parse(readFileSync(join(work, 'v8', name), 'utf8')).result) {
    if (script.url !== bundleUrl) continue;
    for (const fn of script.functions) {
      if (fn.ranges[0].count === 0) continue;
      const offset = fn.ranges[0].startOffset;
      let line = lineStarts.length - 1;
      for (let lo = 0, hi = lineStarts.length - 1; lo <= hi; ) {
        const mid = (lo + hi) >> 1;
        if (lineStarts[mid] <= offset) {
          line = mid;
          lo = mid + 1;
        } else hi = mid - 1;
      }
      const found = map.findEntry(line, offset - lineStarts[line]);
      if (found.originalSource !== undefined) ranLines.add(`${relative(root, fileURLToPath(new URL(found.originalSource, pathToFileURL(bundle))))}:${found.originalLine}`);
    }
  }
}

const rows = [];
let allCalled = 0;
let allTotal = 0;
for (const folder of folders) {
  let called = 0;
  let total = 0;
  for (const file of files.filter((file) => relative(root, file).startsWith(folder)).sort()) {
    const rel = relative(root, file);
    const named = namedFunctions(file);
    const missed = named.filter((fn) => !ranLines.has(`${rel}:${fn.line}`));
    called += named.length - missed.length;
    total += named.length;
    rows.push(`  ${rel}: ${named.length - missed.length}/${named.length}`);
    if (process.env.LIST === '1') for (const fn of missed) rows.push(`      never called: ${fn.name} (line ${fn.line + 1})`);
  }
  rows.push(`${folder}: ${called}/${total} named functions called (${Math.round((100 * called) / total)} %)`);
  allCalled += called;
  allTotal += total;
}
console.log(rows.join('\n'));
console.log(`all: ${allCalled}/${allTotal} named functions called (${Math.round((100 * allCalled) / allTotal)} %)`);
rmSync(work, { recursive: true, force: true });

/**
 * The named functions of a TypeScript file, with the (0-based) line where each starts as V8 sees
 * it: declarations, class constructors, methods, accessors, and arrow or function expressions
 * bound to a variable or a property.
 */
function namedFunctions(file) {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const found = [];
  const nameOf = (node) => (node.name !== undefined && (ts.isIdentifier(node.name) || ts.isStringLiteral(node.name)) ? node.name.text : undefined);
  const add = (name, node) => found.push({ name, line: source.getLineAndCharacterOfPosition(node.getStart(source)).line });
  const visit = (node) => {
    if (ts.isFunctionDeclaration(node) && node.body !== undefined && node.name !== undefined) add(node.name.text, node);
    else if ((ts.isMethodDeclaration(node) || ts.isGetAccessorDeclaration(node) || ts.isSetAccessorDeclaration(node)) && node.body !== undefined && nameOf(node) !== undefined) add(nameOf(node), node.name);
    else if (ts.isConstructorDeclaration(node) && node.body !== undefined) add('constructor', node);
    else if ((ts.isArrowFunction(node) || ts.isFunctionExpression(node)) && (ts.isVariableDeclaration(node.parent) || ts.isPropertyAssignment(node.parent)) && nameOf(node.parent) !== undefined) add(nameOf(node.parent), node);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}
