import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { ferry } from './cli.js';
import { createDatabase, pgUrl, query, uniqueName } from './pg.js';
import { tempDir } from './tmp.js';

/** A new database filled by `sql` (none when empty), backed up once by the real binary into <work>/backups. */
export async function backedUpDatabase(prefix: string, sql: string, database?: string) {
  const work = await tempDir();
  const db = database ?? await createDatabase(uniqueName(prefix));
  if (sql !== '') await query(db, sql);
  const dir = join(work, 'backups');
  const env = { DATABASE_URL: pgUrl(db), BACKUP_DIRECTORY: dir };
  const made = await ferry(['backup'], env);
  expect(made.code, made.stderr).toBe(0);
  const name = readdirSync(dir).find((n) => n.endsWith('.tar.gz'))!;
  return { work, db, dir, env, name, archive: join(dir, name) };
}
