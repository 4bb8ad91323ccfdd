// Bundles the server into one file, dist/kvs.mjs, that runs with plain `node` and no node_modules.
import { chmodSync } from 'node:fs';
import { build } from 'esbuild';
import { bundleOptions, requireBanner } from './scripts/esbuild-options.mjs';

await build({ ...bundleOptions, entryPoints: ['src/main.ts'], outfile: 'dist/kvs.mjs' });

// The client library as its own file, and the CLI built on it (`#!` first, so it runs as `kvs`).
await build({ ...bundleOptions, entryPoints: ['src/client/kvs-client.ts'], outfile: 'dist/kvs-client.mjs' });
await build({ ...bundleOptions, entryPoints: ['src/client/cli.ts'], outfile: 'dist/kvs-cli.mjs', banner: { js: `#!/usr/bin/env node\n${requireBanner}` } });
chmodSync('dist/kvs-cli.mjs', 0o755);
