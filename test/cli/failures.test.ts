import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../src/demo/throwaway-postgres.js';
import { ferry, startFerry } from '../support/cli.js';
import { fakeToolDir } from '../support/fake-tools.js';
import { createDatabase, databaseExists, pgUrl, query, tableDigests, uniqueName } from '../support/pg.js';
import { tempDir } from '../support/tmp.js';
import { backedUpDatabase } from '../support/backed-up.js';
import { replaceEntry } from '../support/archive-edit.js';

async function smallDatabase(): Promise<string> {
  const db = await createDatabase(uniqueName('small'));
  await query(db, `CREATE TABLE recipes (id serial PRIMARY KEY, title text NOT NULL);
    INSERT INTO recipes (title) SELECT 'recette ' || i FROM generate_series(1, 500) i;`);
  return db;
}

/**
 * Rewrites the archive with one byte of `entry` (`fromEnd` bytes before its end) changed, inside a
 * valid gzip/tar and with the manifest unchanged: only the entry's checksum can tell.
 */
async function flipByte(work: string, archive: string, entry: string, fromEnd: number): Promise<void> {
  const { execFileSync } = await import('node:child_process');
  const x = join(work, 'flipped');
  await mkdir(x);
  execFileSync('tar', ['-xzf', archive, '-C', x]);
  const bytes = await readFile(join(x, entry));
  bytes.writeUInt8(bytes.readUInt8(bytes.length - fromEnd) ^ 0x01, bytes.length - fromEnd);
  await writeFile(join(x, entry), bytes);
  execFileSync('tar', ['-czf', archive, '-C', x, 'postgresql/database.backup', 'postgresql/database.sql', 'backup_info.txt', 'manifest.json']);
}

/** A backup directory holding one good, old backup that nothing may remove or damage. */
async function directoryWithOldBackup(work: string): Promise<{ dir: string; old: string; oldBytes: Buffer }> {
  const db = await smallDatabase();
  const dir = join(work, 'backups');
  const made = await ferry(['backup'], { DATABASE_URL: pgUrl(db), BACKUP_DIRECTORY: dir });
  expect(made.code, made.stderr).toBe(0);
  const name = (await readdir(dir)).find((n) => n.endsWith('.tar.gz'))!;
  const old = join(dir, 'backup_20200101_020000.tar.gz');
  await copyFile(join(dir, name), old);
  for (const suffix of ['.sha256', '.manifest.json']) await copyFile(join(dir, name + suffix), old + suffix);
  return { dir, old, oldBytes: await readFile(old) };
}

async function expectNothingNew(dir: string, before: string[]): Promise<void> {
  const after = await readdir(dir);
  expect(after.filter((n) => n.endsWith('.partial') || n.startsWith('.ferry-tmp'))).toEqual([]);
  expect(after.sort()).toEqual(before.sort());
}

describe('backup failures: one clear line, the right exit code, nothing lost', () => {
  it('unreachable server', async () => {
    const work = await tempDir();
    const { dir, old, oldBytes } = await directoryWithOldBackup(work);
    const before = await readdir(dir);
    const port = await freePort();
    const result = await ferry(['backup'], { DATABASE_URL: pgUrl('app', { port }), BACKUP_DIRECTORY: dir, BACKUP_RETENTION_DAYS: '1' });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(new RegExp(`^ferry: cannot connect to postgres postgres@127\\.0\\.0\\.1:${port}/app: ECONNREFUSED$`, 'm'));
    expect(result.stderr).toMatch(/^hint: Check that the server is running/m);
    await expectNothingNew(dir, before);
    expect(await readFile(old)).toEqual(oldBytes);
  });

  it('wrong password', async () => {
    const work = await tempDir();
    const { dir } = await directoryWithOldBackup(work);
    const before = await readdir(dir);
    const result = await ferry(['backup'], { DATABASE_URL: pgUrl('postgres', { password: 'not-the-Password-123' }), BACKUP_DIRECTORY: dir });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^ferry: authentication failed for postgres postgres@127\.0\.0\.1:\d+\/postgres$/m);
    expect(result.stderr + result.stdout).not.toContain('not-the-Password-123');
    await expectNothingNew(dir, before);
    // A restore checks the target from the maintenance database: the message names the target all the same.
    const restore = await ferry(['restore', 'latest', '--yes'], { DATABASE_URL: pgUrl('dev_target_db', { password: 'not-the-Password-123' }), BACKUP_DIRECTORY: dir });
    expect(restore.code).toBe(1);
    expect(restore.stderr).toMatch(/^ferry: authentication failed for postgres postgres@127\.0\.0\.1:\d+\/dev_target_db$/m);
    expect(restore.stderr + restore.stdout).not.toContain('not-the-Password-123');
  });

  it('missing pg_dump', async () => {
    const work = await tempDir();
    const db = await smallDatabase();
    const empty = join(work, 'no-tools');
    await mkdir(empty);
    const result = await ferry(['backup'], { DATABASE_URL: pgUrl(db), BACKUP_DIRECTORY: join(work, 'b'), FERRY_POSTGRES_BIN_DIR: empty });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^ferry: pg_dump not found \(searched .*no-tools\)$/m);
    expect(result.stderr).toMatch(/apt-get install postgresql-client-15/);
    expect(result.stderr).toMatch(/postgres\.exec: docker:\/\/<container>/);
    expect(await readdir(join(work, 'b'))).toEqual([]);
  });

  it('pg_dump older than the server stops before dumping', async () => {
    const work = await tempDir();
    const db = await smallDatabase();
    const marker = join(work, 'dumped');
    const tools = await fakeToolDir(join(work, 'old-tools'), { version: '13.4', body: `touch ${marker}; exit 1` });
    const result = await ferry(['backup'], { DATABASE_URL: pgUrl(db), BACKUP_DIRECTORY: join(work, 'b'), FERRY_POSTGRES_BIN_DIR: tools });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^ferry: server postgres .* runs PostgreSQL 15\.\d+ and needs PostgreSQL client tools 15 or newer, found only 13\.4 \(.*old-tools\)$/m);
    expect(existsSync(marker)).toBe(false);
  });

  it('unwritable backup directory', async () => {
    const work = await tempDir();
    const db = await smallDatabase();
    await writeFile(join(work, 'a-file'), 'x');
    const result = await ferry(['backup'], { DATABASE_URL: pgUrl(db), BACKUP_DIRECTORY: join(work, 'a-file', 'backups') });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^ferry: backup directory .*a-file\/backups cannot be created or written$/m);
  });

  it('a second backup into the same directory is refused while one runs', async () => {
    const work = await tempDir();
    const db = await smallDatabase();
    const dir = join(work, 'b');
    await mkdir(dir);
    await writeFile(join(dir, '.ferry.lock'), JSON.stringify({ pid: process.pid, host: (await import('node:os')).hostname(), purpose: 'backup', since: 'now' }));
    const result = await ferry(['backup'], { DATABASE_URL: pgUrl(db), BACKUP_DIRECTORY: dir });
    expect(result.code).toBe(4);
    expect(result.stderr).toMatch(/^ferry: backup directory .* is in use by process \d+/m);
  });

  it('Ctrl-C during the dump leaves no partial file, no temp folder, and prunes nothing', async () => {
    const work = await tempDir();
    const { dir, old, oldBytes } = await directoryWithOldBackup(work);
    const before = await readdir(dir);
    const db = await smallDatabase();
    const started = join(work, 'started');
    const tools = await fakeToolDir(join(work, 'slow-tools'), { body: `touch ${started}; sleep 30; exec "$REAL" "$@"` });
    const run = startFerry(['backup'], { DATABASE_URL: pgUrl(db), BACKUP_DIRECTORY: dir, FERRY_POSTGRES_BIN_DIR: tools, BACKUP_RETENTION_DAYS: '1' });
    for (let i = 0; i < 200 && !existsSync(started); i++) await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(started)).toBe(true);
    run.child.kill('SIGINT');
    const result = await run.done;
    expect(result.code).toBe(130);
    expect(result.stderr).toMatch(/^ferry: interrupted$/m);
    await expectNothingNew(dir, before);
    expect(await readFile(old)).toEqual(oldBytes);
  });

  it('an empty environment is a configuration error naming what to set', async () => {
    const work = await tempDir();
    const result = await ferry(['backup'], {}, work);
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/^ferry: nothing to back up: no store is configured$/m);
    expect(result.stderr).toMatch(/DATABASE_URL/);
  });
});

describe('configuration errors name the file, the key and what was expected', () => {
  it('a value of the wrong type', async () => {
    const work = await tempDir();
    await writeFile(join(work, 'ferry.config.yaml'), 'backup:\n  retention_days: a week\n');
    const result = await ferry(['list'], {}, work);
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/^ferry: .*ferry\.config\.yaml: backup\.retention_days: expected a whole number written in decimal digits$/m);
  });

  it('an unknown key', async () => {
    const work = await tempDir();
    await writeFile(join(work, 'cfg.yaml'), 'postgress:\n  url: postgresql://localhost/x\n');
    const result = await ferry(['--config', join(work, 'cfg.yaml'), 'list'], {});
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/^ferry: .*cfg\.yaml: unknown key postgress, did you mean postgres$/m);
  });

  it('broken YAML', async () => {
    const work = await tempDir();
    await writeFile(join(work, 'ferry.config.yaml'), 'backup:\n  directory: [unclosed\n');
    const result = await ferry(['list'], {}, work);
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/^ferry: .*ferry\.config\.yaml:\d+: /m);
  });

  it('a missing --config file', async () => {
    const result = await ferry(['--config', '/nonexistent/ferry.yaml', 'list'], {});
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/^ferry: cannot read configuration file \/nonexistent\/ferry\.yaml$/m);
  });
});

describe('restore failures and refusals', () => {
  async function backedUp() {
    const { work, db: source, dir, archive } = await backedUpDatabase('small', '', await smallDatabase());
    return { work, source, dir, archive };
  }

  it('refuses without a terminal unless --yes', async () => {
    const { dir } = await backedUp();
    const target = await createDatabase(uniqueName('tty'));
    const result = await ferry(['restore', 'latest'], { DATABASE_URL: pgUrl(target), BACKUP_DIRECTORY: dir });
    expect(result.code).toBe(4);
    expect(result.stderr).toMatch(/^ferry: restore replaces data and there is no terminal to confirm on$/m);
    expect(await tableDigests(target)).toEqual({});
  });

  it('refuses to restore into the database the archive came from', async () => {
    const { source, dir } = await backedUp();
    const result = await ferry(['restore', 'latest', '--yes'], { DATABASE_URL: pgUrl(source), BACKUP_DIRECTORY: dir });
    expect(result.code).toBe(4);
    expect(result.stderr).toMatch(/^ferry: refusing to restore into postgres .*: it is the database this archive was taken from$/m);
    const allowed = await ferry(['restore', 'latest', '--yes', '--allow-source-target'], { DATABASE_URL: pgUrl(source), BACKUP_DIRECTORY: dir });
    expect(allowed.code, allowed.stderr).toBe(0);
  });

  it('a view in the target that depends on a restored table no longer stops the restore: the replaced database keeps it', async () => {
    const { dir } = await backedUp();
    const target = await createDatabase(uniqueName('dependent'));
    // pg_restore --clean failed here ("cannot drop table … other objects depend on it"); a swap never drops anything in the target.
    await query(target, `CREATE TABLE recipes (id int PRIMARY KEY, title text); INSERT INTO recipes VALUES (1, 'local only');
      CREATE VIEW recipe_titles AS SELECT title FROM recipes;`);
    const before = await tableDigests(target);
    const result = await ferry(['restore', 'latest', '--yes'], { DATABASE_URL: pgUrl(target), BACKUP_DIRECTORY: dir });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`the previous ${target} is kept as ${target}__ferry_prev`));
    expect(await tableDigests(`${target}__ferry_prev`).catch(() => 'closed')).toBe('closed');
    // Named with --to-db, the target is what the undo says it replaces (it named the configured database).
    const undo = await ferry(['restore', '--undo', '--yes', '--to-db', target], { DATABASE_URL: pgUrl('postgres'), BACKUP_DIRECTORY: dir });
    expect(undo.code, undo.stderr).toBe(0);
    expect(undo.stderr).toMatch(new RegExp(`^  postgres: postgres .*/${target}__ferry_prev \\(.*\\) replaces postgres .*/${target}$`, 'm'));
    expect(await tableDigests(target)).toEqual(before);
    expect(await query(target, 'SELECT * FROM recipe_titles')).toEqual([{ title: 'local only' }]);
  });

  it('a truncated archive is refused before anything is touched', async () => {
    const { dir, archive } = await backedUp();
    const { size } = await import('node:fs/promises').then((fs) => fs.stat(archive));
    await truncate(archive, Math.floor(size * 0.6));
    const target = await createDatabase(uniqueName('trunc'));
    await query(target, "CREATE TABLE keep (v text); INSERT INTO keep VALUES ('mine');");
    const before = await tableDigests(target);
    const result = await ferry(['restore', 'latest', '--yes'], { DATABASE_URL: pgUrl(target), BACKUP_DIRECTORY: dir });
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toMatch(/^ferry: archive .* is damaged.*: unexpected end of file \(found within the first \d+ compressed bytes\)$/m);
    expect(await tableDigests(target)).toEqual(before);
  });

  it('a flipped byte inside the PostgreSQL dump entry is caught by its checksum', async () => {
    const { work, dir, archive } = await backedUp();
    await flipByte(work, archive, 'postgresql/database.backup', 20);
    const target = await createDatabase(uniqueName('flip'));
    const result = await ferry(['restore', archive, '--yes'], { DATABASE_URL: pgUrl(target), BACKUP_DIRECTORY: dir });
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toMatch(/^ferry: archive .*: entry postgresql\/database\.backup does not match its checksum/m);
    expect(await tableDigests(target)).toEqual({});
  });

  it('a damaged entry that nothing restores (the plain SQL after the dump) is left unread by restore and caught by verify', async () => {
    const { work, source, dir, archive } = await backedUp();
    await flipByte(work, archive, 'postgresql/database.sql', 3);
    const target = uniqueName('unread');
    const result = await ferry(['restore', archive, '--yes', '-v'], { DATABASE_URL: pgUrl(target), BACKUP_DIRECTORY: dir });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/not read, since nothing restores them: postgresql\/database\.sql, backup_info\.txt/);
    expect(await tableDigests(target)).toEqual(await tableDigests(source));
    const verified = await ferry(['verify', archive], { BACKUP_DIRECTORY: dir });
    expect(verified.code).toBe(2);
    expect(verified.stdout + verified.stderr).toMatch(/postgresql\/database\.sql does not match its checksum/);
  });

  it('the dump damaged at its end: the load already under way is rolled back, and a database it created is removed', async () => {
    const { work, dir, archive } = await backedUp();
    // PostgreSQL starts loading while database.backup is still being read; its checksum is known only at its end.
    await flipByte(work, archive, 'postgresql/database.backup', 3);

    const target = await createDatabase(uniqueName('late'));
    await query(target, "CREATE TABLE recipes (id int PRIMARY KEY, title text); INSERT INTO recipes VALUES (1, 'local only');");
    const before = await tableDigests(target);
    const result = await ferry(['restore', archive, '--yes'], { DATABASE_URL: pgUrl(target), BACKUP_DIRECTORY: dir });
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toMatch(/^ferry: archive .*: entry postgresql\/database\.backup does not match its checksum/m);
    expect(await tableDigests(target)).toEqual(before);

    const fresh = uniqueName('late_new');
    const intoNew = await ferry(['restore', archive, '--yes'], { DATABASE_URL: pgUrl(fresh), BACKUP_DIRECTORY: dir });
    expect(intoNew.code, intoNew.stderr).toBe(2);
    expect(await databaseExists(fresh)).toBe(false);
  });

  it('a dump pg_restore cannot read to its end (checksums consistent): nothing of it is committed', async () => {
    const { work, dir, archive } = await backedUp();
    const { execFileSync } = await import('node:child_process');
    const x = join(work, 'cut');
    await mkdir(x);
    execFileSync('tar', ['-xzf', archive, '-C', x]);
    const dump = await readFile(join(x, 'postgresql', 'database.backup'));
    // Cut inside the table's data: pg_restore prints part of the COPY rows, then fails.
    replaceEntry(archive, 'postgresql/database.backup', dump.subarray(0, Math.floor(dump.length * 0.9)));
    const target = await createDatabase(uniqueName('cut'));
    await query(target, "CREATE TABLE recipes (id int PRIMARY KEY, title text); INSERT INTO recipes VALUES (1, 'local only');");
    const before = await tableDigests(target);
    const result = await ferry(['restore', archive, '--yes'], { DATABASE_URL: pgUrl(target), BACKUP_DIRECTORY: dir });
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toMatch(/^ferry: restore into postgres .* failed in pg_restore: /m);
    expect(await tableDigests(target)).toEqual(before);
    // Masked, the rows reach psql through Ferry as pg_restore prints them; psql's input must not end
    // (psql would commit what it has) before pg_restore has succeeded.
    const config = join(work, 'mask.yaml');
    await writeFile(config, 'mask:\n  postgres:\n    recipes:\n      title: text\n', { mode: 0o600 });
    for (let i = 0; i < 3; i++) {
      const masked = await ferry(['--config', config, 'restore', archive, '--yes'], { DATABASE_URL: pgUrl(target), BACKUP_DIRECTORY: dir, FERRY_MASK_KEY: 'failures-test-mask-key-0123' });
      expect(masked.code, masked.stderr).toBe(1);
      expect(await tableDigests(target)).toEqual(before);
    }
  });

  it('a missing archive and a store the archive lacks are usage errors', async () => {
    const { dir } = await backedUp();
    const missing = await ferry(['restore', 'backup_19990101_000000.tar.gz', '--yes'], { DATABASE_URL: pgUrl('x'), BACKUP_DIRECTORY: dir });
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/^ferry: archive backup_19990101_000000\.tar\.gz not found/m);
    const work = await tempDir();
    const lacks = await ferry(['restore', 'latest', '--yes', '--only', 'uploads'], { UPLOADS_DIR: join(work, 'u'), BACKUP_DIRECTORY: dir });
    expect(lacks.code).toBe(3);
    expect(lacks.stderr).toMatch(/^ferry: archive .* holds no uploads data \(it has postgres\)$/m);
  });
});
