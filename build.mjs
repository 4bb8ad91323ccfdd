// Bundles the server into one file, dist/kvs.mjs, that runs with plain `node` and no node_modules.
import { chmodSync } from 'node:fs';
import { build } from 'esbuild';

// Koa and friends are CommonJS and call require() on Node built-ins; an ESM bundle has no
// require, so give it one (without this, start-up fails with "Dynamic require of ... is not supported").
const requireBanner = "import { createRequire as __kvsCreateRequire } from 'node:module'; const require = __kvsCreateRequire(import.meta.url);";

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: false,
  legalComments: 'none',
  banner: { js: requireBanner },
  logLevel: 'warning',
};

await build({ ...common, entryPoints: ['src/main.ts'], outfile: 'dist/kvs.mjs' });

// The client library as its own file, and the CLI built on it (`#!` first, so it runs as `kvs`).
await build({ ...common, entryPoints: ['src/client/kvs-client.ts'], outfile: 'dist/kvs-client.mjs' });
await build({ ...common, entryPoints: ['src/client/cli.ts'], outfile: 'dist/kvs-cli.mjs', banner: { js: `#!/usr/bin/env node\n${requireBanner}` } });
chmodSync('dist/kvs-cli.mjs', 0o755);
