import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ferry } from '../support/cli.js';
import { createDatabase, pgServer, pgUrl, query, tableDigests, uniqueName } from '../support/pg.js';
import { tempDir } from '../support/tmp.js';

const docs = (name: string) => readFileSync(fileURLToPath(new URL(`../../docs/${name}`, import.meta.url)), 'utf8');

/** The ```sh blocks of a section of a Markdown file, in order. */
function shellBlocks(markdown: string, heading: string): string[] {
  const start = markdown.indexOf(`\n## ${heading}\n`);
  expect(start, `section "${heading}"`).toBeGreaterThan(0);
  const end = markdown.indexOf('\n## ', start + 1);
  const section = markdown.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1] as string);
}

describe('docs/restore.md "By hand, without Ferry", run as written (issue 24 items 1 and 2)', () => {
  it('checks the archive from the backup directory, then restores PostgreSQL with pg_restore and with psql', async () => {
    const source = await createDatabase(uniqueName('guide'));
    await query(source, `CREATE TABLE recipes (id serial PRIMARY KEY, title text NOT NULL);
      CREATE TABLE ingredients (id serial PRIMARY KEY, recipe_id int REFERENCES recipes, name text);
      INSERT INTO recipes (title) SELECT 'recette ' || i FROM generate_series(1, 50) i;
      INSERT INTO ingredients (recipe_id, name) SELECT 1 + i % 50, 'ingredient ' || i FROM generate_series(1, 120) i;`);
    const work = await tempDir();
    const uploads = join(work, 'uploads');
    await mkdir(uploads);
    await writeFile(join(uploads, 'a.txt'), 'photo');
    const dir = join(work, 'backups');
    const made = await ferry(['backup'], { DATABASE_URL: pgUrl(source), UPLOADS_DIR: uploads, BACKUP_DIRECTORY: dir });
    expect(made.code, made.stderr).toBe(0);
    const archive = (await readdir(dir)).find((n) => n.endsWith('.tar.gz')) as string;

    const blocks = shellBlocks(docs('restore.md'), 'By hand, without Ferry');
    const [open, custom, plain] = blocks;
    expect(open).toContain('sha256sum -c');
    expect(custom).toContain('pg_restore');
    expect(plain).toContain('psql');
    const customDb = uniqueName('guide_custom');
    const plainDb = uniqueName('guide_plain');
    const script = [open, custom, plain].join('\n')
      .replaceAll('backup_20260310_020000.tar.gz', archive)
      .replaceAll('legrimoire_dev_sql', plainDb)
      .replaceAll('legrimoire_dev', customDb);
    const server = pgServer();
    const result = spawnSync('bash', ['-euo', 'pipefail', '-c', script], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, PGHOST: '127.0.0.1', PGPORT: String(server.port), PGUSER: server.user, PGPASSWORD: server.password },
    });
    expect(result.status, `${script}\n${result.stdout}\n${result.stderr}`).toBe(0);
    expect(result.stdout).toContain(`${archive}: OK`);
    const expected = await tableDigests(source);
    expect(await tableDigests(customDb)).toEqual(expected);
    expect(await tableDigests(plainDb)).toEqual(expected);
  });

  it('docs/migration.md does not call age encryption an open issue (item 3)', () => {
    const migration = docs('migration.md');
    expect(migration).not.toMatch(/encryption is an open issue/);
    expect(migration).toMatch(/`gpg --symmetric` by hand \| `backup\.encryption`/);
  });
});
