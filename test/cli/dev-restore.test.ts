import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ferry } from '../support/cli.js';
import { createDatabase, pgUrl, query, tableDigests, uniqueName } from '../support/pg.js';
import { tempDir } from '../support/tmp.js';

async function production() {
  const work = await tempDir();
  const db = await createDatabase(uniqueName('prod'));
  await query(db, `CREATE TABLE recipes (id int PRIMARY KEY, title text); INSERT INTO recipes SELECT i, 'prod ' || i FROM generate_series(1, 40) i;
    CREATE TABLE users (id int PRIMARY KEY, email text); INSERT INTO users SELECT i, i || '@prod.example' FROM generate_series(1, 7) i;`);
  const uploads = join(work, 'uploads');
  mkdirSync(uploads);
  writeFileSync(join(uploads, 'tarte.jpg'), 'jpeg bytes');
  const backups = join(work, 'backups');
  const made = await ferry(['backup'], { DATABASE_URL: pgUrl(db), UPLOADS_DIR: uploads, BACKUP_DIRECTORY: backups });
  expect(made.code, made.stderr).toBe(0);
  return { work, db, backups };
}

async function developer(work: string) {
  const db = await createDatabase(uniqueName('dev'));
  await query(db, `CREATE TABLE recipes (id int PRIMARY KEY, title text); INSERT INTO recipes VALUES (1, 'local draft');
    CREATE TABLE users (id int PRIMARY KEY, email text); INSERT INTO users VALUES (1, 'me@dev.local');
    CREATE TABLE notes (n text); INSERT INTO notes VALUES ('dev only');`);
  const uploads = join(work, 'dev-uploads');
  mkdirSync(uploads);
  writeFileSync(join(uploads, 'mine.jpg'), 'my local file');
  return { db, uploads };
}

function files(dir: string): Record<string, string> {
  return Object.fromEntries(readdirSync(dir).map((n) => [n, readFileSync(join(dir, n), 'utf8')]));
}

describe('restoring into a developer environment', () => {
  it('refuses a server that is not clearly local, before connecting to it', async () => {
    const { backups } = await production();
    const result = await ferry(['restore', 'latest', '--yes'], { DATABASE_URL: 'postgresql://app:secret@db.prod.example.com:5432/legrimoire', BACKUP_DIRECTORY: backups });
    expect(result.code).toBe(4);
    expect(result.stderr).toMatch(/^ferry: refusing to restore into postgres app@db\.prod\.example\.com:5432\/legrimoire: host db\.prod\.example\.com is not clearly local$/m);
    expect(result.stderr).toMatch(/--allow-remote-target/);
  });

  it('--dry-run prints what each store replaces and how, needs no confirmation, and changes nothing', async () => {
    const { work, backups } = await production();
    const dev = await developer(work);
    const before = { pg: await tableDigests(dev.db), files: files(dev.uploads) };
    const result = await ferry(['restore', 'latest', '--dry-run'], { DATABASE_URL: pgUrl(dev.db), UPLOADS_DIR: dev.uploads, BACKUP_DIRECTORY: backups });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/replaces 2 tables \(rows now -> in the archive\):/);
    expect(result.stdout).toMatch(/strategy swap: built beside the target as \w+__ferry_new, then swapped in by renaming/);
    expect(result.stdout).toMatch(/public\.recipes\s+1\s+40/);
    expect(result.stdout).toMatch(/public\.users\s+1\s+7/);
    expect(result.stdout).toMatch(/replaces 1 file, 0 folders, 0 links with 1 file, 0 folders, 0 links/);
    expect(result.stdout).toMatch(/\(dry run: nothing was changed\)/);
    expect({ pg: await tableDigests(dev.db), files: files(dev.uploads) }).toEqual(before);
  });

  it('--tables restores only those tables; --only uploads leaves the database byte-for-byte alone', async () => {
    const { work, backups, db } = await production();
    const dev = await developer(work);
    const tables = await ferry(['restore', 'latest', '--yes', '--only', 'postgres', '--tables', 'recipes'], { DATABASE_URL: pgUrl(dev.db), UPLOADS_DIR: dev.uploads, BACKUP_DIRECTORY: backups });
    expect(tables.code, tables.stderr).toBe(0);
    expect(tables.stdout).toMatch(/postgres\s+public\.recipes\s+40\s+40\s+ok/);
    expect(tables.stdout).not.toMatch(/public\.users/);
    const after = await tableDigests(dev.db);
    expect(after['public.recipes']).toEqual((await tableDigests(db))['public.recipes']);
    expect(await query(dev.db, 'SELECT email FROM users')).toEqual([{ email: 'me@dev.local' }]);
    expect(await query(dev.db, 'SELECT n FROM notes')).toEqual([{ n: 'dev only' }]);
    expect(files(dev.uploads)).toEqual({ 'mine.jpg': 'my local file' });

    const pgBefore = await tableDigests(dev.db);
    const uploadsOnly = await ferry(['restore', 'latest', '--yes', '--only', 'uploads'], { DATABASE_URL: pgUrl(dev.db), UPLOADS_DIR: dev.uploads, BACKUP_DIRECTORY: backups });
    expect(uploadsOnly.code, uploadsOnly.stderr).toBe(0);
    expect(files(dev.uploads)).toEqual({ 'tarte.jpg': 'jpeg bytes' });
    expect(await tableDigests(dev.db)).toEqual(pgBefore);

    const unknown = await ferry(['restore', 'latest', '--yes', '--tables', 'recipez'], { DATABASE_URL: pgUrl(dev.db), BACKUP_DIRECTORY: backups });
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toMatch(/^ferry: --tables: recipez is not in the archive$/m);
  });
});
