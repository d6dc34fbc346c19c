import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findPgDumps } from '../../src/stores/postgres/tools.js';
import { tempDir } from '../support/tmp.js';

function script(path: string, version: string): void {
  writeFileSync(path, `#!/bin/sh\necho "pg_dump (PostgreSQL) ${version}"\n`);
  chmodSync(path, 0o755);
}

describe('finding pg_dump', () => {
  it('skips Debian\'s pg_wrapper on the PATH, whose binaries are found in their own folders, unless postgres.bin_dir names it', async () => {
    const root = await tempDir('pg-tools-');
    const wrapped = join(root, 'usr-bin');
    const common = join(root, 'postgresql-common');
    const real = join(root, 'pg-16-bin');
    for (const dir of [wrapped, common, real]) mkdirSync(dir);
    script(join(common, 'pg_wrapper'), '16.4');
    symlinkSync(join(common, 'pg_wrapper'), join(wrapped, 'pg_dump'));
    script(join(real, 'pg_dump'), '16.4');
    const signal = new AbortController().signal;

    const found = await findPgDumps(undefined, signal, { PATH: `${wrapped}:${real}` });
    expect(found.map((tool) => tool.dir)).not.toContain(wrapped);
    expect(found).toContainEqual({ dir: real, version: '16.4', major: 16 });

    expect(await findPgDumps(wrapped, signal)).toEqual([{ dir: wrapped, version: '16.4', major: 16 }]);
  });
});
