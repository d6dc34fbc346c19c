import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createDatabase, pgUrl, query, tableDigests, uniqueName } from '../support/pg.js';
import { tempDir } from '../support/tmp.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('docs/library.md', () => {
  it('its example runs as written: backup, list, verify and a restore through the library API', async () => {
    const doc = await readFile(join(ROOT, 'docs', 'library.md'), 'utf8');
    const example = /```ts\n([\s\S]*?)```/.exec(doc)?.[1];
    expect(example).toBeDefined();
    const work = await tempDir();
    // The package's own name resolves to the built library, as it would for a user who installed it.
    const script = join(work, 'example.mjs');
    await writeFile(script, (example as string).replaceAll("'ferry'", `'${join(ROOT, 'dist', 'index.js')}'`));
    const source = await createDatabase(uniqueName('lib_src'));
    await query(source, 'CREATE TABLE recipes (id int PRIMARY KEY, title text); INSERT INTO recipes SELECT i, md5(i::text) FROM generate_series(1, 500) i;');
    const target = uniqueName('lib_dst');
    const { stdout } = await promisify(execFile)(process.execPath, [script], {
      cwd: work,
      env: { PATH: process.env.PATH, DATABASE_URL: pgUrl(source), BACKUP_DIRECTORY: join(work, 'backups'), RESTORE_DATABASE_URL: pgUrl(target) },
    });
    expect(stdout).toMatch(/^backed up .*backup_\d{8}_\d{6}\.tar\.gz: \d+ bytes, sha256 [0-9a-f]{64}$/m);
    expect(stdout).toMatch(/^1 backup\(s\), newest backup_\d{8}_\d{6}\.tar\.gz$/m);
    expect(stdout).toMatch(/^verify: OK$/m);
    expect(stdout).toMatch(/^restored: postgres 1 object\(s\)$/m);
    expect(await tableDigests(target)).toEqual(await tableDigests(source));
  });
});
