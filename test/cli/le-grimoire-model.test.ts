import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MongoClient } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { SAMPLE_SQL, sampleMongoCollections, writeSampleUploads } from '../../src/demo/sample-data.js';
import { ferry } from '../support/cli.js';
import { MongoTestServer } from '../support/mongo/server.js';
import { createDatabase, pgUrl, query, uniqueName } from '../support/pg.js';
import { tempDir } from '../support/tmp.js';

const EXAMPLE = fileURLToPath(new URL('../../examples/le-grimoire/ferry.config.yaml', import.meta.url));

/** The shipped example, run against the test servers: its tools run locally here, not in a container. */
function exampleConfig(dir: string): string {
  const file = join(dir, 'ferry.config.yaml');
  writeFileSync(file, readFileSync(EXAMPLE, 'utf8').replace(/^ {2}exec: .*\n/m, ''), { mode: 0o600 });
  return file;
}

describe('the Le Grimoire example on the app\'s real data model', () => {
  it('db init creates the real indexes once, then reports init-db.sh\'s names as drift without failing', async () => {
    const server = new MongoTestServer();
    const url = await server.start();
    const work = await tempDir();
    const config = exampleConfig(work);
    const db = await createDatabase(uniqueName('grimoire_init'));
    await query(db, SAMPLE_SQL);
    const env = { MONGODB_URL: `${url}/legrimoire`, DATABASE_URL: pgUrl(db) };
    const client = new MongoClient(url);
    // A database whose ingredients went through init-db.sh first: off_id_1 and custom_1 exist.
    await client.db('legrimoire').collection('ingredients').createIndexes([{ key: { off_id: 1 }, unique: true, background: true, name: 'off_id_1' }, { key: { custom: 1 }, name: 'custom_1' }]);
    const first = await ferry(['db', 'init', '--wait', '0', '--config', config, '--json'], env);
    expect(first.code, first.stderr).toBe(0);
    const report = (JSON.parse(first.stdout) as { inits: Array<{ created: string[]; unchanged: string[]; conflicts: string[]; drift: string[] }> }).inits[0];
    expect(report?.conflicts).toEqual([]);
    expect(report?.drift).toEqual([
      'index ingredients.off_id_unique: the same index exists as off_id_1; left as it is',
      'index ingredients.custom_index: the same index exists as custom_1; left as it is',
    ]);
    expect(report?.created).toContain('index categories.off_id_unique');
    expect(report?.created).toContain('index wines.lwin18_1');
    const second = await ferry(['db', 'init', '--wait', '0', '--config', config, '--json'], env);
    expect(second.code, second.stderr).toBe(0);
    expect((JSON.parse(second.stdout) as { inits: Array<{ created: string[] }> }).inits[0]?.created).toEqual([]);
    await client.close();
    await server.stop();
  });

  it('a restore with the example\'s rules masks the users\' personal data in both databases', async () => {
    const server = new MongoTestServer();
    const url = await server.start();
    const work = await tempDir();
    const config = exampleConfig(work);
    const source = await createDatabase(uniqueName('grimoire'));
    await query(source, SAMPLE_SQL);
    const client = new MongoClient(url);
    for (const [name, docs] of Object.entries(sampleMongoCollections())) await client.db('legrimoire').collection(name).insertMany(docs);
    await writeSampleUploads(join(work, 'uploads'));
    const base = { BACKUP_DIRECTORY: join(work, 'backups'), FERRY_MASK_KEY: 'test-mask-key-0123456789abcdef' };
    const made = await ferry(['backup', '--config', config], { ...base, DATABASE_URL: pgUrl(source), MONGODB_URL: `${url}/legrimoire`, UPLOADS_DIR: join(work, 'uploads') });
    expect(made.code, made.stderr).toBe(0);

    const target = uniqueName('grimoire_dev');
    const restored = await ferry(['restore', 'latest', '--yes', '--config', config], { ...base, DATABASE_URL: pgUrl(target), MONGODB_URL: url, MONGODB_DB_NAME: 'legrimoire_dev', UPLOADS_DIR: join(work, 'uploads_dev') });
    expect(restored.code, restored.stderr).toBe(0);
    const before = await query<Record<string, string | null>>(source, 'SELECT email, name, username, password_hash, avatar_url, oauth_provider_id FROM users ORDER BY id');
    const after = await query<Record<string, string | null>>(target, 'SELECT email, name, username, password_hash, avatar_url, oauth_provider_id FROM users ORDER BY id');
    expect(after).toHaveLength(12);
    const originals = new Set(before.flatMap((row) => Object.values(row)).filter((v) => v !== null));
    for (const row of after) {
      for (const value of Object.values(row)) if (value !== null) expect(originals.has(value), value).toBe(false);
      expect(row.avatar_url).toBeNull();
      expect(row.email).toMatch(/@example\.invalid$/);
    }
    expect((await query(target, 'SELECT count(*)::int AS n FROM recipes'))[0]).toEqual({ n: 250 });
    const logs = await client.db('legrimoire_dev').collection('ai_extraction_logs').find().toArray();
    expect(logs).toHaveLength(30);
    for (const log of logs) expect(log.user_email).toMatch(/@example\.invalid$/);
    await client.close();
    await server.stop();
  });
});
