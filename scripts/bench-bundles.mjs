// The two bundles the benchmarks run: the store (dist/kvs.mjs, `node build.mjs`) and the bare Koa
// baseline (dist/bench-baseline.mjs, from scripts/bench-baseline.ts with the same esbuild options).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, readFileSync } from 'node:fs';
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

/**
 * Builds both (as buildBenchBundles) and copies them into `runDir`, so that a rebuild while the
 * benchmark runs cannot mix versions; returns the copies' paths and their SHA-256 (16 hex digits).
 */
export async function snapshotBenchBundles(runDir, log) {
  const built = await buildBenchBundles(log);
  const store = path.join(runDir, 'kvs.mjs');
  const baseline = path.join(runDir, 'bench-baseline.mjs');
  copyFileSync(built.store, store);
  copyFileSync(built.baseline, baseline);
  const sha = (file) => createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 16);
  return { store, baseline, storeSha: sha(store), baselineSha: sha(baseline) };
}
