// The CPU profiles of `npm run bench` (BENCH_CPU_PROF=1, or `node scripts/bench.mjs --profile`):
// a V8 .cpuprofile of a bundle summarized as the top functions and modules by self time, and the
// project's own functions (src/, events/) by inclusive time; bundle lines are mapped back to the
// source module through esbuild's `// path` markers.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { round } from './bench-stats.mjs';

/** Maps bundle line numbers to the source module esbuild placed there (its `// path` markers). */
function bundleModules(bundleFile) {
  const markers = [];
  readFileSync(bundleFile, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      const match = /^\/\/ ((?:src|events|node_modules|scripts)\/\S+)$/.exec(line);
      if (match) markers.push([i, match[1]]);
    });
  return (line) => {
    let lo = 0;
    let hi = markers.length - 1;
    let found = '(bundle)';
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (markers[mid][0] <= line) {
        found = markers[mid][1];
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found.startsWith('node_modules/') ? found.split('/').slice(0, found.split('/')[1].startsWith('@') ? 3 : 2).join('/') : found;
  };
}

export function summarizeProfile(file, bundleFile, top = 15) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const moduleAt = bundleModules(bundleFile);
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const byFunction = new Map();
  const byModule = new Map();
  let total = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const { callFrame } = nodes.get(id);
    const name = callFrame.functionName || '(anonymous)';
    if (name === '(idle)') {
      idle += us;
      continue;
    }
    total += us;
    const inBundle = callFrame.url.endsWith(path.basename(bundleFile));
    const where = inBundle ? moduleAt(callFrame.lineNumber) : callFrame.url === '' ? '' : callFrame.url.replace(/^node:/, 'node:');
    const label = `${name} ${where}${inBundle ? `:${callFrame.lineNumber + 1}` : ''}`.trim();
    byFunction.set(label, (byFunction.get(label) ?? 0) + us);
    const module = callFrame.url === '' ? name : inBundle ? where : where.startsWith('node:') ? where : 'other';
    byModule.set(module, (byModule.get(module) ?? 0) + us);
  }
  // Inclusive time of the project's own functions (src/, events/): every sample counts once for
  // each distinct own function on its stack, so callers of hot library code show up.
  const parent = new Map();
  for (const n of profile.nodes) for (const child of n.children ?? []) parent.set(child, n.id);
  const ownLabel = new Map();
  for (const n of profile.nodes) {
    const { callFrame } = n;
    if (!callFrame.url.endsWith(path.basename(bundleFile))) continue;
    const where = moduleAt(callFrame.lineNumber);
    if (where.startsWith('src/') || where.startsWith('events/')) ownLabel.set(n.id, `${callFrame.functionName || '(anonymous)'} ${where}:${callFrame.lineNumber + 1}`);
  }
  const inclusive = new Map();
  for (const [id, us] of selfUs) {
    if (nodes.get(id).callFrame.functionName === '(idle)') continue;
    const seen = new Set();
    for (let at = id; at !== undefined; at = parent.get(at)) {
      const label = ownLabel.get(at);
      if (label !== undefined && !seen.has(label)) {
        seen.add(label);
        inclusive.set(label, (inclusive.get(label) ?? 0) + us);
      }
    }
  }
  const rank = (map) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([label, us]) => ({ label, ms: round(us / 1000, 1), share: round(us / total, 4) }));
  return {
    file,
    busyMs: round(total / 1000, 0),
    idleMs: round(idle / 1000, 0),
    topFunctions: rank(byFunction),
    topModules: rank(byModule),
    topOwnInclusive: rank(inclusive),
  };
}
