import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ferry } from '../support/cli.js';
import { SHARED_FIXTURES } from '../support/fixtures.js';
import { MongoTestServer } from '../support/mongo/server.js';
import { createDatabase, pgServer, pgUrl, query, tableDigests, uniqueName } from '../support/pg.js';
import { tempDir } from '../support/tmp.js';

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
    expect(inspected.stdout).toMatch(/written\s+by ferry unknown, archive format 0/);
    expect(inspected.stdout).toMatch(/no manifest: entries have no checksums and no expected counts/);

    const restored = await ferry(['restore', 'latest', '--yes'], env);
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stdout).toMatch(/mongo\s+c1\s+100\s+100\s+ok/);
    expect(restored.stdout).toMatch(/uploads\s+files\s+\?\s+2\s+restored/);
    const target = new URL(env.DATABASE_URL).pathname.slice(1);
    expect(await tableDigests(target)).toEqual(await tableDigests(source));
    expect(readdirSync(join(work, 'dev-uploads', 'images'))).toEqual(['tarte aux pommes.jpg']);
    expect(readFileSync(join(work, 'dev-uploads', 'ocr', 'page-1.txt'), 'utf8')).toBe('Farine, beurre, sucre.');
    const client = new MongoClient(mongoUrl);
    expect(await client.db('legrimoire_dev').collection('c4').find().toArray()).toHaveLength(10);
    await client.close();
  });
});
