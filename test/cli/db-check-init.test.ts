import { describe, expect, it } from 'vitest';
import { freePort } from '../../src/demo/throwaway-postgres.js';
import { ferry, startFerry } from '../support/cli.js';
import { MongoTestServer } from '../support/mongo/server.js';
import { createDatabase, pgUrl, query, uniqueName } from '../support/pg.js';
import { tempDir } from '../support/tmp.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';

// These run against the in-process MongoDB test server only: they start and stop servers at will.
describe('ferry db check', () => {
  it('waits for a MongoDB that appears after a delay, then reports counts', async () => {
    const port = await freePort();
    const run = startFerry(['db', 'check', '--wait', '20s'], { MONGODB_URL: `mongodb://127.0.0.1:${port}/legrimoire`, FERRY_MONGODB_REQUIRED_COLLECTIONS: 'recipes' });
    // The server appears only once Ferry has found it missing, however long Ferry took to start.
    await new Promise<void>((resolveWait) => {
      let seen = '';
      run.child.stderr?.on('data', (chunk: Buffer | string) => {
        seen += String(chunk);
        if (/waiting for mongodb/.test(seen)) resolveWait();
      });
    });
    const server = new MongoTestServer();
    await server.start(port);
    const client = new MongoClient(`mongodb://127.0.0.1:${port}`);
    await client.db('legrimoire').collection('recipes').insertMany([{ t: 1 }, { t: 2 }, { t: 3 }]);
    const result = await run.done;
    await client.close();
    await server.stop();
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^mongodb 127\.0\.0\.1:\d+\/legrimoire: reachable after \d+(\.\d)? s, MongoDB 7\.0\.0$/m);
    expect(result.stdout).toMatch(/recipes\s+3\s+required/);
  });

  it('fails with the last error when a database never answers', async () => {
    const port = await freePort();
    const result = await ferry(['db', 'check', '--wait', '2s'], { DATABASE_URL: pgUrl('legrimoire', { port }) });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(new RegExp(`^ferry: postgres postgres@127\\.0\\.0\\.1:${port}/legrimoire did not answer within 2 s \\(\\d+ tries\\); last error: cannot connect to .*ECONNREFUSED$`, 'm'));
  });

  it('checks required PostgreSQL tables with exact counts', async () => {
    const db = await createDatabase(uniqueName('check'));
    await query(db, 'CREATE TABLE recipes (id int); INSERT INTO recipes SELECT generate_series(1, 12);');
    const ok = await ferry(['db', 'check', '--wait', '0'], { DATABASE_URL: pgUrl(db), FERRY_POSTGRES_REQUIRED_TABLES: 'recipes' });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/public\.recipes\s+12\s+required/);
    const missing = await ferry(['db', 'check', '--wait', '0'], { DATABASE_URL: pgUrl(db), FERRY_POSTGRES_REQUIRED_TABLES: 'recipes,ingredients' });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^ferry: required object is missing: postgres ingredients$/m);
  });
});

describe('ferry db init', () => {
  it('creates required collections and declared indexes once; a second run is a no-op; conflicts are reported, not dropped', async () => {
    const server = new MongoTestServer();
    const url = await server.start();
    const work = await tempDir();
    const config = join(work, 'ferry.config.yaml');
    writeFileSync(config, [
      'mongodb:',
      `  url: ${url}/legrimoire`,
      '  required_collections: [recipes, ingredients, categories]',
      '  indexes:',
      '    recipes:',
      '      - { key: { title: 1 } }',
      '      - { key: { slug: 1 }, unique: true, name: slug_unique }',
      '    ingredients:',
      '      - { key: { name: 1 }, collation: { locale: fr, strength: 2 } }',
      '',
    ].join('\n'));
    const missing = await ferry(['db', 'check', '--wait', '0', '--config', config], {});
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^ferry: required objects are missing: mongo recipes, mongo ingredients, mongo categories$/m);

    const first = await ferry(['db', 'init', '--wait', '0', '--config', config, '--json'], {});
    expect(first.code, first.stderr).toBe(0);
    const made = JSON.parse(first.stdout) as { inits: Array<{ created: string[]; unchanged: string[]; conflicts: string[] }> };
    expect(made.inits[0]?.created).toEqual(['collection recipes', 'collection ingredients', 'collection categories', 'index recipes.title_1', 'index recipes.slug_unique', 'index ingredients.name_1']);

    const before = server.commandLog.length;
    const second = await ferry(['db', 'init', '--wait', '0', '--config', config, '--json'], {});
    expect(second.code, second.stderr).toBe(0);
    const again = JSON.parse(second.stdout) as { inits: Array<{ created: string[]; unchanged: string[] }> };
    expect(again.inits[0]?.created).toEqual([]);
    expect(again.inits[0]?.unchanged).toHaveLength(6);
    expect(server.commandLog.slice(before).filter((c) => c === 'create' || c === 'createIndexes')).toEqual([]);

    writeFileSync(config, readConfigWith(config, '      - { key: { title: 1 } }', '      - { key: { title: -1 }, name: title_1 }'));
    const conflict = await ferry(['db', 'init', '--wait', '0', '--config', config], {});
    expect(conflict.code).toBe(1);
    expect(conflict.stderr).toMatch(/^ferry: 1 declared index\(es\) differ from the database, first: index recipes\.title_1 exists as /m);
    const client = new MongoClient(url);
    const indexes = await client.db('legrimoire').collection('recipes').indexes();
    expect(indexes.find((i) => i.name === 'title_1')?.key).toEqual({ title: 1 });
    await client.close();
    await server.stop();
  });
});

describe('ferry db init on a database the app\'s import scripts set up', () => {
  it('reports init-db.sh\'s names for the import scripts\' indexes as drift, exits 0, and creates only what is missing', async () => {
    const server = new MongoTestServer();
    const url = await server.start();
    const client = new MongoClient(url);
    // As backend/scripts/import_off_ingredients.py creates them (pymongo IndexModel with names).
    await client.db('legrimoire').collection('ingredients').createIndexes([
      { key: { off_id: 1 }, unique: true, name: 'off_id_unique' },
      { key: { 'names.en': 'text', 'names.fr': 'text' }, name: 'names_text' },
      { key: { parents: 1 }, name: 'parents_index' },
      { key: { custom: 1 }, name: 'custom_index' },
    ]);
    const work = await tempDir();
    const config = join(work, 'ferry.config.yaml');
    // What backend/scripts/mongodb/init-db.sh declares (default names), plus the import script's text index.
    writeFileSync(config, [
      'mongodb:',
      `  url: ${url}/legrimoire`,
      '  indexes:',
      '    ingredients:',
      '      - { key: { off_id: 1 }, unique: true, background: true }',
      '      - { key: { names.fr: 1 }, background: true }',
      '      - { key: { custom: 1 }, background: true }',
      '      - { key: { names.en: text, names.fr: text }, name: names_text }',
      '',
    ].join('\n'));
    const result = await ferry(['db', 'init', '--wait', '0', '--config', config], {});
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/: 1 created, 2 unchanged, 0 conflicts, 2 drifted$/m);
    expect(result.stdout).toMatch(/^ {2}drift {5}index ingredients\.off_id_1: the same index exists as off_id_unique; left as it is$/m);
    expect(result.stdout).toMatch(/^ {2}drift {5}index ingredients\.custom_1: the same index exists as custom_index; left as it is$/m);
    expect(result.stdout).toMatch(/^ {2}created {3}index ingredients\.names\.fr_1$/m);
    const names = (await client.db('legrimoire').collection('ingredients').indexes()).map((i) => i.name).sort();
    expect(names).toEqual(['_id_', 'custom_index', 'names.fr_1', 'names_text', 'off_id_unique', 'parents_index']);

    // mongod lists a text index in its own form ({_fts, _ftsx}, weights, defaults): still the declared one.
    await client.db('legrimoire').collection('categories').createIndexes([
      { key: { _fts: 'text', _ftsx: 1 }, name: 'names_text', weights: { 'names.en': 1, 'names.fr': 1 }, default_language: 'english', language_override: 'language', textIndexVersion: 3 },
    ]);
    writeFileSync(config, readConfigWith(config, '  indexes:\n', '  indexes:\n    categories:\n      - { key: { names.en: text, names.fr: text }, name: names_text }\n'));
    const listed = await ferry(['db', 'init', '--wait', '0', '--config', config, '--json'], {});
    expect(listed.code, listed.stderr).toBe(0);
    expect((JSON.parse(listed.stdout) as { inits: Array<{ unchanged: string[] }> }).inits[0]?.unchanged).toContain('index categories.names_text');

    // The same key with other options is not drift: a unique index the app relies on would be missing.
    writeFileSync(config, readConfigWith(config, '{ key: { off_id: 1 }, unique: true, background: true }', '{ key: { off_id: 1 } }'));
    const conflict = await ferry(['db', 'init', '--wait', '0', '--config', config], {});
    expect(conflict.code).toBe(1);
    expect(conflict.stderr).toMatch(/index ingredients\.off_id_1: the same key is already indexed as off_id_unique with other options/);
    await client.close();
    await server.stop();
  });
});

function readConfigWith(path: string, from: string, to: string): string {
  return readFileSync(path, 'utf8').replace(from, to);
}
