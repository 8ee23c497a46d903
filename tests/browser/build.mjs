// Bundles src/prebid_entry.js (Prebid.js from node_modules, pinned in package-lock.json) for the browser.
// Usage: node build.mjs  ->  dist/prebid-floors.js (dist/ is not committed).
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

await build({
  entryPoints: [join(here, 'src', 'prebid_entry.js')],
  outfile: join(here, 'dist', 'prebid-floors.js'),
  bundle: true,
  format: 'iife',
  target: ['chrome120'],
  minify: false,
  logLevel: 'warning',
});
console.log(join(here, 'dist', 'prebid-floors.js'));
