// The two bundles the benchmarks run: the store (dist/kvs.mjs, `node build.mjs`) and the bare Koa
// baseline (dist/bench-baseline.mjs, from scripts/bench-baseline.ts with the same esbuild options).
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleOptions } from './esbuild-options.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Builds both (unless BENCH_SKIP_BUILD=1) and returns their paths. */
export async function buildBenchBundles(log) {
  const store = path.join(root, 'dist/kvs.mjs');
  const baseline = path.join(root, 'dist/bench-baseline.mjs');
  if (process.env.BENCH_SKIP_BUILD !== '1') {
    log('building dist/kvs.mjs (node build.mjs) and dist/bench-baseline.mjs');
    execFileSync(process.execPath, ['build.mjs'], { cwd: root, stdio: 'inherit' });
    const { build } = await import('esbuild');
    await build({ ...bundleOptions, entryPoints: [path.join(root, 'scripts/bench-baseline.ts')], outfile: baseline });
  }
  return { store, baseline };
}
