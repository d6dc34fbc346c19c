import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { getAsset, isSea } from 'node:sea';
import { fileURLToPath } from 'node:url';

/**
 * The dashboard's static files, served from the package itself so the pages work with no network:
 * its own script and style sheet (assets/ at the package root) and uPlot's, from its npm package.
 * The single executable carries them as its assets, under the same names (scripts/build-exe.mjs).
 */
const require = createRequire(import.meta.url);
const OWN = fileURLToPath(new URL('../../assets/', import.meta.url));

export const FILES: Record<string, { path: () => string; type: string }> = {
  'dashboard.js': { path: () => `${OWN}dashboard.js`, type: 'text/javascript; charset=utf-8' },
  'dashboard.css': { path: () => `${OWN}dashboard.css`, type: 'text/css; charset=utf-8' },
  'uPlot.min.js': { path: () => require.resolve('uplot/dist/uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
  'uPlot.min.css': { path: () => require.resolve('uplot/dist/uPlot.min.css'), type: 'text/css; charset=utf-8' },
};

const cache = new Map<string, { body: Buffer; type: string }>();

/** The asset of that name, read once; undefined for any other name. */
export async function asset(name: string): Promise<{ body: Buffer; type: string } | undefined> {
  const known = FILES[name];
  if (known === undefined) return undefined;
  let found = cache.get(name);
  if (found === undefined) {
    found = { body: isSea() ? Buffer.from(getAsset(name)) : await readFile(known.path()), type: known.type };
    cache.set(name, found);
  }
  return found;
}
