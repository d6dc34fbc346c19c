import { execFile } from 'node:child_process';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ferry } from '../support/cli.js';
import { loadChinook, loadPagila } from '../support/fixtures.js';
import { createDatabase, pgServer, pgUrl, psqlFile, query, sequenceValues, tableDigests, uniqueName } from '../support/pg.js';
import { tempDir } from '../support/tmp.js';
import { storesByKind } from '../support/json.js';

const run = promisify(execFile);

async function onlyArchive(dir: string): Promise<string> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.tar.gz') && !n.startsWith('backup_latest'));
  expect(names).toHaveLength(1);
  return join(dir, names[0]!);
}

async function roundTrip(source: string, env: Record<string, string> = {}) {
  const work = await tempDir();
  const backups = join(work, 'backups');
  const made = await ferry(['backup', '--json'], { DATABASE_URL: pgUrl(source), BACKUP_DIRECTORY: backups, ...env });
  expect(made.code, made.stderr).toBe(0);
  const archive = await onlyArchive(backups);
  const target = uniqueName('restored');
  const restored = await ferry(['restore', 'latest', '--yes'], { DATABASE_URL: pgUrl(target), BACKUP_DIRECTORY: backups });
  expect(restored.code, restored.stderr).toBe(0);
  return { work, backups, archive, target, made, restored };
}

describe('PostgreSQL backup and restore of real schemas', () => {
  it('round-trips Pagila: every table, digest and sequence, and the archive opens with standard tools', async () => {
    const source = await createDatabase(uniqueName('pagila'));
    await loadPagila(source);
    const { work, archive, target, made, restored } = await roundTrip(source);

    const sourceDigests = await tableDigests(source);
    expect(Object.keys(sourceDigests).length).toBeGreaterThan(20);
    expect(sourceDigests['public.rental']?.rows).toBe(16044);
    expect(await tableDigests(target)).toEqual(sourceDigests);
    expect(await sequenceValues(target)).toEqual(await sequenceValues(source));
    // Triggers, functions and the materialized view came along, not just the data.
    const [objects] = await query<{ triggers: string; functions: string; matviews: string }>(target, `
      SELECT (SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal)::text AS triggers,
             (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public')::text AS functions,
             (SELECT count(*) FROM pg_matviews)::text AS matviews`);
    const [sourceObjects] = await query(source, `
      SELECT (SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal)::text AS triggers,
             (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public')::text AS functions,
             (SELECT count(*) FROM pg_matviews)::text AS matviews`);
    expect(objects).toEqual(sourceObjects);

    // The manifest's counts are exact (counted from the dump's COPY data).
    const manifest = { stores: storesByKind(made.stdout) };
    for (const [table, count] of Object.entries(manifest.stores.postgres!.counts)) {
      expect(sourceDigests[table.replace(/"/g, '')]?.rows ?? sourceDigests[table]?.rows, table).toBe(count);
    }
    expect(manifest.stores.postgres!.counts['public.payment_p2022_01']).toBeGreaterThan(0);
    expect(restored.stdout).toMatch(/public\.rental\s+16044\s+16044\s+ok/);

    // Plain tools: tar -xzf, sha256sum -c on the sidecar, pg_restore --list on the custom dump.
    const extracted = join(work, 'extracted');
    await run('mkdir', ['-p', extracted]);
    await run('tar', ['-xzf', archive, '-C', extracted]);
    expect((await readdir(extracted)).sort()).toEqual(['backup_info.txt', 'manifest.json', 'postgresql']);
    const check = await run('sha256sum', ['-c', `${archive.split('/').pop()}.sha256`], { cwd: join(archive, '..') });
    expect(check.stdout).toMatch(/: OK/);
    const listing = await run('pg_restore', ['--list', join(extracted, 'postgresql', 'database.backup')], { maxBuffer: 16 * 1024 * 1024 });
    expect(listing.stdout).toMatch(/TABLE DATA public rental/);
    // postgres.dump_compression defaults to 1: four times faster than pg_dump's default, a quarter larger.
    expect(listing.stdout).toMatch(/^; {5}Compression: (1|gzip)/m);
    expect(await readFile(join(extracted, 'backup_info.txt'), 'utf8')).toMatch(/pg_restore --no-owner/);
    expect((await stat(archive)).mode & 0o777).toBe(0o600);
    expect((await stat(join(archive, '..'))).mode & 0o777).toBe(0o700);

    // postgresql/database.sql is complete: psql loads it into another fresh database.
    const fromSql = await createDatabase(uniqueName('pagila_sql'));
    await psqlFile(fromSql, join(extracted, 'postgresql', 'database.sql'));
    expect(await tableDigests(fromSql)).toEqual(sourceDigests);
  });

  it('round-trips Chinook and quoted mixed-case identifiers with awkward values, from an uncompressed custom dump', async () => {
    const source = await createDatabase(uniqueName('chinook'));
    await loadChinook(source, await tempDir());
    await query(source, `
      CREATE SCHEMA "Music Shop";
      CREATE TABLE "Music Shop"."Album ""Review""" ("Id" serial PRIMARY KEY, "Text" text, "Score.Value" numeric);
      INSERT INTO "Music Shop"."Album ""Review""" ("Text", "Score.Value") VALUES
        (E'line one\\nline two\\ttab \\\\ backslash', 4.5), ('\\.', 1), (NULL, NULL), ('é ü 漢字 🎵', 3);`);
    const { work, target, made, archive } = await roundTrip(source, { FERRY_POSTGRES_DUMP_COMPRESSION: '0' });
    const sourceDigests = await tableDigests(source);
    expect(sourceDigests['public.track']?.rows).toBe(3503);
    // An uncompressed custom dump, deflated by the archive's gzip instead: the archive, SQL included, is smaller than the dump.
    await run('tar', ['-xzf', archive, '-C', work, 'postgresql/database.backup']);
    const listing = await run('pg_restore', ['--list', join(work, 'postgresql', 'database.backup')], { maxBuffer: 16 * 1024 * 1024 });
    expect(listing.stdout).toMatch(/^; {5}Compression: (0|none)/m);
    expect((await stat(archive)).size).toBeLessThan((await stat(join(work, 'postgresql', 'database.backup'))).size);
    expect(await tableDigests(target)).toEqual(sourceDigests);
    const manifest = { stores: storesByKind(made.stdout) };
    expect(manifest.stores.postgres!.counts['"Music Shop"."Album ""Review"""']).toBe(4);
    expect(manifest.stores.postgres!.counts['public.invoice_line']).toBe(2240);
  });

  it('restores with --jobs and into a named database with --to-db', async () => {
    const source = await createDatabase(uniqueName('jobs_src'));
    await query(source, 'CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT i, md5(i::text) FROM generate_series(1, 5000) i;');
    const work = await tempDir();
    const backups = join(work, 'backups');
    expect((await ferry(['backup'], { DATABASE_URL: pgUrl(source), BACKUP_DIRECTORY: backups })).code).toBe(0);
    const target = uniqueName('jobs_dst');
    const restored = await ferry(['restore', 'latest', '--yes', '--jobs', '2', '--to-db', target], { DATABASE_URL: pgUrl(source), BACKUP_DIRECTORY: backups });
    expect(restored.code, restored.stderr).toBe(0);
    expect(await tableDigests(target)).toEqual(await tableDigests(source));
    expect(pgServer().port).toBeGreaterThan(0);
  });
});
