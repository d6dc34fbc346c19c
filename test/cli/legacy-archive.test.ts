import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, truncateSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ferry } from '../support/cli.js';
import { SHARED_FIXTURES } from '../support/fixtures.js';
import { MongoTestServer } from '../support/mongo/server.js';
import { createDatabase, pgServer, pgUrl, query, tableDigests, uniqueName } from '../support/pg.js';
import { tempDir } from '../support/tmp.js';

const DB1 = join(SHARED_FIXTURES, 'mongo-tools', 'mongorestore', 'testdata', 'testdirs', 'db1');

/**
 * The folder backup-production.sh fills before archiving it: a custom-format dump (pg_dump -F c -b),
 * a plain dump with owners, mongodump of every database (the app's and admin), the uploads, and the
 * Python json.dump exports (indented, not Extended JSON).
 */
async function scriptsFolder(work: string, name: string, options: { mongo?: boolean; uploads?: boolean } = {}): Promise<{ folder: string; source: string }> {
  const source = await createDatabase(uniqueName('oldscripts'));
  await query(source, `CREATE TABLE recipes (id serial PRIMARY KEY, title text NOT NULL); INSERT INTO recipes (title) SELECT 'recette ' || i FROM generate_series(1, 40) i;`);
  const folder = join(work, name);
  mkdirSync(join(folder, 'postgresql'), { recursive: true });
  const pgEnv = { ...process.env, PGPASSWORD: pgServer().password };
  const conn = ['-h', '127.0.0.1', '-p', String(pgServer().port), '-U', pgServer().user];
  execFileSync('pg_dump', [...conn, '-F', 'c', '-b', '-f', join(folder, 'postgresql', 'database.backup'), source], { env: pgEnv });
  execFileSync('pg_dump', [...conn, '-f', join(folder, 'postgresql', 'database.sql'), source], { env: pgEnv });
  mkdirSync(join(folder, 'mongodb'), { recursive: true });
  if (options.mongo !== false) {
    mkdirSync(join(folder, 'mongodb', 'legrimoire'));
    for (const f of ['c1.bson', 'c1.metadata.json', 'c4.bson', 'c4.metadata.json']) cpSync(join(DB1, f), join(folder, 'mongodb', 'legrimoire', f));
    mkdirSync(join(folder, 'mongodb', 'admin'));
    cpSync(join(DB1, 'c3.bson'), join(folder, 'mongodb', 'admin', 'system.version.bson'));
    cpSync(join(DB1, 'c3.metadata.json'), join(folder, 'mongodb', 'admin', 'system.version.metadata.json'));
  }
  mkdirSync(join(folder, 'uploads'));
  if (options.uploads !== false) {
    mkdirSync(join(folder, 'uploads', 'images'));
    writeFileSync(join(folder, 'uploads', 'images', 'tarte aux pommes.jpg'), Buffer.alloc(4096, 1));
  }
  writeFileSync(join(folder, 'recipes_export.json'), JSON.stringify([{ title: 'tarte', created_at: '2025-10-28 14:30:22.123456' }, { title: 'quiche', ingredients: ['œufs', 'crème'] }], null, 2));
  writeFileSync(join(folder, 'backup_info.txt'), `Backup Date: 2025-10-28 14:30:22\nTo restore: ./scripts/restore-backup.sh ${name}.tar.gz\n`);
  return { folder, source };
}

/** Exactly the scripts' call: `cd $BACKUP_BASE_DIR; tar -czf backup_DATE.tar.gz backup_DATE` (one top folder, directory entries included). */
function tarLikeTheScript(work: string, name: string, backups: string): string {
  mkdirSync(backups, { recursive: true });
  const archive = join(backups, `${name}.tar.gz`);
  execFileSync('tar', ['-czf', archive, name], { cwd: work });
  return archive;
}

/** A name the health check finds fresh, in local time as the script's `date +%Y%m%d_%H%M%S`: the folder and archive share it. */
function freshName(): string {
  const at = new Date(Date.now() - 3_600_000);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `backup_${at.getFullYear()}${pad(at.getMonth() + 1)}${pad(at.getDate())}_${pad(at.getHours())}${pad(at.getMinutes())}${pad(at.getSeconds())}`;
}

let mongo: MongoTestServer;
let mongoUrl: string;
beforeAll(async () => {
  mongo = new MongoTestServer();
  mongoUrl = await mongo.start();
});
afterAll(async () => {
  await mongo.stop();
});

describe('migrating from the shell scripts', () => {
  it('restores an archive in the old scripts\' layout (no manifest.json) built from real dumps', async () => {
    const work = await tempDir();
    const source = await createDatabase(uniqueName('legacy_src'));
    await query(source, `CREATE TABLE recipes (id serial PRIMARY KEY, title text NOT NULL); INSERT INTO recipes (title) SELECT 'recette ' || i FROM generate_series(1, 25) i;
      CREATE TABLE ingredients (id serial PRIMARY KEY, name text); INSERT INTO ingredients (name) VALUES ('sel'), ('poivre');`);
    // What backup-production.sh left in its folder before `tar czf`, written by the real tools.
    const layout = join(work, 'backup_20251028_143022');
    mkdirSync(join(layout, 'postgresql'), { recursive: true });
    const pgEnv = { ...process.env, PGPASSWORD: pgServer().password };
    const conn = ['-h', '127.0.0.1', '-p', String(pgServer().port), '-U', pgServer().user];
    execFileSync('pg_dump', [...conn, '-Fc', '-f', join(layout, 'postgresql', 'database.backup'), source], { env: pgEnv });
    execFileSync('pg_dump', [...conn, '-f', join(layout, 'postgresql', 'database.sql'), source], { env: pgEnv });
    mkdirSync(join(layout, 'mongodb', 'legrimoire'), { recursive: true });
    const dump = join(SHARED_FIXTURES, 'mongo-tools', 'mongorestore', 'testdata', 'testdirs', 'db1');
    for (const f of ['c1.bson', 'c1.metadata.json', 'c4.bson', 'c4.metadata.json']) cpSync(join(dump, f), join(layout, 'mongodb', 'legrimoire', f));
    mkdirSync(join(layout, 'uploads', 'images'), { recursive: true });
    mkdirSync(join(layout, 'uploads', 'ocr'), { recursive: true });
    writeFileSync(join(layout, 'uploads', 'images', 'tarte aux pommes.jpg'), Buffer.alloc(4096, 1));
    writeFileSync(join(layout, 'uploads', 'ocr', 'page-1.txt'), 'Farine, beurre, sucre.');
    writeFileSync(join(layout, 'recipes_export.json'), '[{"title":"tarte"}]');
    writeFileSync(join(layout, 'ingredients_export.json'), '[{"name":"sel"}]');
    writeFileSync(join(layout, 'backup_info.txt'), 'Backup Date: 2025-10-28 14:30:22\nTo restore: ./scripts/restore-backup.sh backup_20251028_143022.tar.gz\n');
    const backups = join(work, 'backups');
    mkdirSync(backups);
    execFileSync('tar', ['-czf', join(backups, 'backup_20251028_143022.tar.gz'), '-C', layout, '.']);

    const env = {
      BACKUP_DIRECTORY: backups,
      DATABASE_URL: pgUrl(uniqueName('legacy_dev')),
      MONGODB_URL: `${mongoUrl}/legrimoire_dev`,
      UPLOADS_DIR: join(work, 'dev-uploads'),
    };
    const inspected = await ferry(['inspect', 'latest'], env);
    expect(inspected.code, inspected.stderr).toBe(0);
    expect(inspected.stdout).toMatch(/^written\s+by the old backup scripts \(no manifest\.json\)$/m);
    expect(inspected.stdout).toMatch(/^created\s+2025-10-28T14:30:22\.000Z \(read from its name, or its oldest entry\)$/m);
    expect(inspected.stdout).not.toMatch(/ in 0 ms|ferry unknown/);
    expect(inspected.stdout).toMatch(/no manifest: entries have no checksums and no expected counts/);

    const restored = await ferry(['restore', 'latest', '--yes'], env);
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stdout).toMatch(/mongo\s+c1\s+100\s+100\s+ok/);
    expect(restored.stdout).toMatch(/uploads\s+files\s+\?\s+2\s+restored/);
    // No manifest, so no expected counts: the dump's tables are still counted once loaded.
    expect(restored.stdout).toMatch(/postgres\s+public\.recipes\s+\?\s+25\s+restored/);
    expect(restored.stdout).toMatch(/postgres\s+public\.ingredients\s+\?\s+2\s+restored/);
    const target = new URL(env.DATABASE_URL).pathname.slice(1);
    expect(await tableDigests(target)).toEqual(await tableDigests(source));
    expect(readdirSync(join(work, 'dev-uploads', 'images'))).toEqual(['tarte aux pommes.jpg']);
    expect(readFileSync(join(work, 'dev-uploads', 'ocr', 'page-1.txt'), 'utf8')).toBe('Farine, beurre, sucre.');
    const client = new MongoClient(mongoUrl);
    expect(await client.db('legrimoire_dev').collection('c4').find().toArray()).toHaveLength(10);
    await client.close();
  });

  it('an archive made exactly as the script makes it (one top folder with its directory entries, an admin database): verify 0 without checksums, inspect, list, health, restore', async () => {
    const work = await tempDir();
    const name = freshName();
    const { source } = await scriptsFolder(work, name);
    const backups = join(work, 'backups');
    const archive = tarLikeTheScript(work, name, backups);
    expect(execFileSync('tar', ['-tzf', archive], { encoding: 'utf8' }).split('\n')[0]).toBe(`${name}/`);
    const env = { BACKUP_DIRECTORY: backups, DATABASE_URL: pgUrl(uniqueName('oldscripts_dev')), UPLOADS_DIR: join(work, 'dev-uploads') };

    const verified = await ferry(['verify', 'latest'], env);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
    expect(verified.stdout).toMatch(new RegExp(`^${name}\\.tar\\.gz: OK, made by the old scripts: no checksums to compare; readable — `, 'm'));
    expect(verified.stdout).toMatch(/^\s+mongodb\/\s+\d+ entries/m);
    const json = (JSON.parse((await ferry(['verify', 'latest', '--json'], env)).stdout) as { archives: Array<{ ok: boolean; oldScripts: boolean; entries: Array<{ path: string }> }> }).archives[0]!;
    expect(json).toMatchObject({ ok: true, oldScripts: true });
    expect(json.entries.map((e) => e.path)).toContain('mongodb/admin/system.version.bson');
    expect(json.entries.some((e) => e.path.startsWith(name))).toBe(false);

    const inspected = await ferry(['inspect', 'latest'], env);
    expect(inspected.code, inspected.stderr).toBe(0);
    expect(inspected.stdout).toMatch(/^entries\s+\d+, made by the old scripts: no checksums$/m);
    expect(inspected.stdout).toMatch(/^postgres: /m);
    expect(inspected.stdout).toMatch(/^mongo: /m);

    const listed = await ferry(['list'], env);
    expect(listed.stdout).toMatch(new RegExp(`${name}\\.tar\\.gz .*old scripts: no checksums\\s+ok `));
    expect(listed.stdout).toMatch(new RegExp(`${name}\\.tar\\.gz\\s+\\S+ \\S+\\s+\\S+ \\S+\\s+postgres,mongo,uploads\\s`));
    const health = await ferry(['health'], env);
    expect(health.code, health.stdout).toBe(0);
    expect(health.stdout).toMatch(/\[OK\]\s+integrity: made by the old scripts: no checksums; read whole by ferry verify at /);
    expect(health.stdout).toMatch(/\[OK\]\s+contents: every configured store is in the newest backup/);

    const restored = await ferry(['restore', 'latest', '--yes', '--only', 'postgres,uploads'], env);
    expect(restored.code, restored.stdout + restored.stderr).toBe(0);
    expect(restored.stdout + restored.stderr).not.toMatch(/matches its checksum/);
    expect(restored.stdout + restored.stderr).toMatch(/no checksums to compare/);
    expect(await tableDigests(new URL(env.DATABASE_URL).pathname.slice(1))).toEqual(await tableDigests(source));
    expect(readdirSync(join(work, 'dev-uploads', 'images'))).toEqual(['tarte aux pommes.jpg']);

    // MongoDB: the app's database folder (MONGODB_DB_NAME) among admin and it; admin and system.* never restored.
    const devDb = uniqueName('oldscripts_mongo');
    const mongoRestore = await ferry(['restore', 'latest', '--yes', '--only', 'mongo', '--to-db', devDb], { ...env, MONGODB_URL: mongoUrl, MONGODB_DB_NAME: 'legrimoire' });
    expect(mongoRestore.code, mongoRestore.stdout + mongoRestore.stderr).toBe(0);
    expect(mongoRestore.stderr).toMatch(/^\s+not restored: admin\.system\.version \(the databases admin, config and local and system\.\* collections belong to the server/m);
    expect(mongoRestore.stderr).toMatch(/^\s+replaces every collection in the dump \(an archive without a manifest records no counts/m);
    const client = await MongoClient.connect(mongoUrl);
    try {
      const names = (await client.db(devDb).listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).filter((n) => !n.includes('__ferry_')).sort();
      expect(names).toEqual(['c1', 'c4']);
      expect(await client.db(devDb).collection('c1').estimatedDocumentCount()).toBeGreaterThan(0);
    } finally {
      await client.close();
    }
  });

  it('flat (tar -C folder .) and under one folder, empty mongodb/ and uploads/ mean nothing for those stores: verify 0', async () => {
    const work = await tempDir();
    const name = freshName();
    const { folder } = await scriptsFolder(work, name, { mongo: false, uploads: false });
    const backups = join(work, 'backups');
    const archive = tarLikeTheScript(work, name, backups);
    const flat = join(work, 'flat');
    mkdirSync(flat);
    execFileSync('tar', ['-czf', join(flat, `${name}.tar.gz`), '-C', folder, '.']);
    for (const dir of [backups, flat]) {
      const verified = await ferry(['verify', 'latest'], { BACKUP_DIRECTORY: dir });
      expect(verified.code, verified.stdout + verified.stderr).toBe(0);
      expect(verified.stdout).toMatch(/OK, made by the old scripts: no checksums to compare; readable/);
      const inspected = await ferry(['inspect', 'latest', '--json'], { BACKUP_DIRECTORY: dir });
      expect((JSON.parse(inspected.stdout) as { stores: Array<{ kind: string }> }).stores.map((s) => s.kind)).toEqual(['postgres']);
    }
    // The script's "MongoDB container not running - skipping" archive: health knows, once verify has read it, that it lacks MongoDB.
    const health = await ferry(['health'], { BACKUP_DIRECTORY: backups, MONGODB_URL: `${mongoUrl}/legrimoire`, DATABASE_URL: pgUrl('postgres') });
    expect(health.code, health.stdout).toBe(2);
    expect(health.stdout).toMatch(/^\s+\[CRITICAL\]\s+contents: newest backup lacks mongo \(configured here\)$/m);
    expect(statSync(archive).size).toBeGreaterThan(0);

    // The script named its archives with the host's local time (date +%Y%m%d_%H%M%S); Ferry's own names are UTC.
    const zoned = join(work, 'zoned');
    mkdirSync(zoned);
    cpSync(archive, join(zoned, 'backup_20250101_020000.tar.gz'));
    const listed = await ferry(['list', '--json'], { BACKUP_DIRECTORY: zoned, TZ: 'America/Toronto' });
    expect((JSON.parse(listed.stdout) as { backups: Array<{ time: string }> }).backups.map((b) => b.time)).toEqual(['2025-01-01T07:00:00.000Z']);
  });

  it('damaged pieces of an old archive: corrupt BSON, an unreadable dump, an export that is not JSON → exit 2 each', async () => {
    const work = await tempDir();
    const name = freshName();
    const { folder } = await scriptsFolder(work, name);
    const size = (path: string) => statSync(path).size;
    const damage: Array<[string, (dir: string) => void, RegExp]> = [
      ['bson', (dir) => truncateSync(join(dir, 'mongodb', 'legrimoire', 'c1.bson'), size(join(dir, 'mongodb', 'legrimoire', 'c1.bson')) - 7), /mongodb\/legrimoire\/c1\.bson/],
      ['dump', (dir) => truncateSync(join(dir, 'postgresql', 'database.backup'), Math.floor(size(join(dir, 'postgresql', 'database.backup')) * 0.6)), /postgresql\/database\.backup: pg_restore cannot read it/],
      ['export', (dir) => writeFileSync(join(dir, 'recipes_export.json'), '[{"title": "tarte"},'), /recipes_export\.json is not valid JSON/],
    ];
    for (const [label, harm, expected] of damage) {
      const copy = join(work, label);
      cpSync(folder, join(copy, name), { recursive: true });
      harm(join(copy, name));
      const backups = join(copy, 'backups');
      tarLikeTheScript(copy, name, backups);
      const verified = await ferry(['verify', 'latest'], { BACKUP_DIRECTORY: backups });
      expect(verified.code, `${label}: ${verified.stdout}${verified.stderr}`).toBe(2);
      expect(verified.stdout + verified.stderr, label).toMatch(expected);
    }
  });
});
