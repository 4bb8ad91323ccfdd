// The esbuild options every Node bundle of this project uses: one ESM file for Node 20, no node_modules.
// (The debug page's script, bundled for the browser, has its own in build.mjs.)

// Koa and friends are CommonJS and call require() on Node built-ins; an ESM bundle has no
// require, so give it one (without this, start-up fails with "Dynamic require of ... is not supported").
export const requireBanner =
  "import { createRequire as __kvsCreateRequire } from 'node:module'; const require = __kvsCreateRequire(import.meta.url);";

export const bundleOptions = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: false,
  legalComments: 'none',
  banner: { js: requireBanner },
  logLevel: 'warning',
};
