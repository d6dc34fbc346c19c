import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { BSON, Decimal128, Double, Int32, Long, ObjectId, type Document } from 'bson';
import type { Db } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBsonFile, parseDocument } from '../../src/stores/mongo/bson-file.js';
import { replaceEntry } from '../support/archive-edit.js';
import { ferry } from '../support/cli.js';
import { SHARED_FIXTURES } from '../support/fixtures.js';
import { mongoEnv, startMongoTarget, type MongoTarget } from '../support/mongo-target.js';
import { tempDir } from '../support/tmp.js';
import { storesByKind } from '../support/json.js';

const TOOLS = join(SHARED_FIXTURES, 'mongo-tools');
let mongo: MongoTarget;
type IntKeyed = { _id: Int32; [key: string]: unknown };

beforeAll(async () => {
  mongo = await startMongoTarget();
});
afterAll(async () => {
  await mongo.stop();
});

function env(database: string, backups: string, extra: Record<string, string> = {}): Record<string, string> {
  return mongoEnv(mongo, database, backups, extra);
}

async function rawDocs(db: Db, name: string): Promise<Buffer[]> {
  return (await db.collection(name).find({}, { raw: true }).toArray()) as unknown as Buffer[];
}

async function indexesOf(db: Db, name: string): Promise<Document[]> {
  const list = await db.collection(name).listIndexes().toArray();
  return list.map(({ ns: _ns, ...rest }) => rest).sort((a, b) => String(a.name).localeCompare(String(b.name)));
}

async function fixtureDocs(file: string): Promise<Document[]> {
  const docs: Document[] = [];
  for await (const doc of readBsonFile(file)) docs.push(parseDocument(doc, file));
  return docs;
}

async function insertFixture(db: Db, name: string, file: string): Promise<void> {
  const docs = await fixtureDocs(file);
  if (docs.length > 0) await db.collection(name).insertMany(docs);
}

function splitDocuments(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let offset = 0; offset < bytes.length; offset += bytes.readInt32LE(offset)) out.push(bytes.subarray(offset, offset + bytes.readInt32LE(offset)));
  return out;
}

/**
 * Every document comes back as the same bytes; one that had no _id comes back as mongod stores it,
 * with an ObjectId _id in front of the same elements.
 */
function expectSameDocuments(dumped: Buffer, source: Buffer, label: string): void {
  const [after, before] = [splitDocuments(dumped), splitDocuments(source)];
  expect(after.length, label).toBe(before.length);
  for (const [i, original] of before.entries()) {
    const doc = after[i] as Buffer;
    if ('_id' in BSON.deserialize(original, { promoteValues: false })) {
      expect(doc.equals(original), `${label} document ${i} byte-identical`).toBe(true);
      continue;
    }
    expect(doc.subarray(4, 9).equals(Buffer.from('\x07_id\0', 'latin1')), `${label} document ${i} starts with an ObjectId _id`).toBe(true);
    expect(doc.subarray(4 + 5 + 12).equals(original.subarray(4)), `${label} document ${i} has the same elements after it`).toBe(true);
  }
}

function archiveIn(dir: string): string {
  return join(dir, readdirSync(dir).find((n) => n.endsWith('.tar.gz'))!);
}

describe('MongoDB backup and restore through the official driver', () => {
  it('round-trips a Le Grimoire-like database: every document byte-identical, indexes and options equal', async () => {
    const client = await mongo.client();
    const sourceName = mongo.database('grimoire');
    const source = client.db(sourceName);
    await source.collection<IntKeyed>('categories').insertMany(['Entrées', 'Plats', 'Desserts'].map((name, i) => ({ _id: new Int32(i + 1), name })));
    await source.collection('ingredients').insertMany(Array.from({ length: 200 }, (_, i) => ({ name: `ingrédient ${i}`, unit: i % 2 ? 'g' : 'ml', price: new Decimal128(`${i}.25`) })));
    const recipes = Array.from({ length: 2000 }, (_, i) => ({
      _id: new ObjectId(),
      slug: `recette-${i}`,
      title: `Recette n°${i} — ${'délicieuse '.repeat(i % 5)}`,
      categoryId: new Int32(1 + (i % 3)),
      servings: new Double(2.5 + (i % 4)),
      views: Long.fromNumber(i * 1_000_003),
      ingredients: Array.from({ length: 1 + (i % 7) }, (_, k) => ({ ingredient: `ingrédient ${k}`, quantity: k * 1.5, notes: k % 2 ? null : ['fin', 'frais'] })),
      steps: Array.from({ length: 3 }, (_, k) => `Étape ${k + 1} : mélanger et cuire ${k * 5} minutes.\nPuis servir.`),
      nested: { a: { b: { c: { d: [i, { e: 'deep' }] } } } },
      location: { type: 'Point', coordinates: [2.35 + i / 10000, 48.85] },
      createdAt: new Date(Date.UTC(2025, 0, 1) + i * 3_600_000),
    }));
    for (let i = 0; i < recipes.length; i += 500) await source.collection('recipes').insertMany(recipes.slice(i, i + 500));
    await source.collection('recipes').createIndex({ slug: 1 }, { unique: true });
    await source.collection('recipes').createIndex({ title: 'text', steps: 'text' }, { default_language: 'french' });
    await source.collection('recipes').createIndex({ categoryId: 1, createdAt: -1 }, { partialFilterExpression: { servings: { $gt: 2 } } });
    await source.collection('recipes').createIndex({ location: '2dsphere' });
    await source.collection('recipes').createIndex({ slug: 'hashed' });
    await source.collection('recipes').createIndex({ title: 1 }, { collation: { locale: 'fr', strength: 2 }, name: 'title_fr' });
    await source.collection('recipes').createIndex({ 'ingredients.ingredient': 1 }, { sparse: true, hidden: true });
    await source.createCollection('sessions');
    await source.collection('sessions').createIndex({ lastSeen: 1 }, { expireAfterSeconds: 3600 });
    await source.collection('sessions').insertOne({ lastSeen: new Date(), user: 'chef' });
    await source.createCollection('audit', { capped: true, size: 1_048_576, max: 1000 });
    await source.collection('audit').insertMany([{ at: new Date(), what: 'login' }, { at: new Date(), what: 'logout' }]);
    await source.createCollection('recipe_titles', { viewOn: 'recipes', pipeline: [{ $project: { title: 1 } }] });
    await insertFixture(source, 'all_types', join(TOOLS, 'bsondump/testdata/all_types.bson'));
    const small = Array.from({ length: 100_000 }, (_, i) => ({ i: new Int32(i), v: i % 13 }));
    for (let i = 0; i < small.length; i += 20_000) await source.collection('events').insertMany(small.slice(i, i + 20_000));
    const big = 'x'.repeat(15_900_000);
    await source.collection<IntKeyed>('big').insertMany([{ _id: new Int32(1), big }, { _id: new Int32(2), note: 'small neighbour' }, { _id: new Int32(3), big: big.slice(1) }]);

    const work = await tempDir();
    const backups = join(work, 'backups');
    const made = await ferry(['backup', '--json'], env(sourceName, backups, { FERRY_MONGODB_EXPORT_COLLECTIONS: 'recipes,ingredients' }));
    expect(made.code, made.stderr).toBe(0);
    const manifest = { stores: storesByKind(made.stdout) };
    expect(manifest.stores.mongo?.counts).toEqual({ all_types: 20, audit: 2, big: 3, categories: 3, events: 100_000, ingredients: 200, recipes: 2000, sessions: 1 });
    expect(manifest.stores.mongo?.facts).toMatchObject({ database: sourceName, views: 'recipe_titles' });

    // Files other tools can read, in mongodump's layout.
    const extracted = join(work, 'x');
    mkdirSync(extracted);
    execFileSync('tar', ['-xzf', archiveIn(backups), '-C', extracted]);
    expect(readdirSync(join(extracted, 'mongodb', sourceName)).sort()).toContain('recipe_titles.metadata.json');
    expect(existsSync(join(extracted, 'mongodb', sourceName, 'recipe_titles.bson'))).toBe(false);
    const recipesMeta = JSON.parse(readFileSync(join(extracted, 'mongodb', sourceName, 'recipes.metadata.json'), 'utf8')) as Document;
    expect(Object.keys(recipesMeta)).toEqual(['indexes', 'uuid', 'collectionName']);
    expect(JSON.parse(readFileSync(join(extracted, 'mongodb', sourceName, 'audit.metadata.json'), 'utf8')).options).toMatchObject({ capped: true });
    const exported = JSON.parse(readFileSync(join(extracted, 'recipes_export.json'), 'utf8')) as Document[];
    expect(exported).toHaveLength(2000);
    expect(exported[7]).toMatchObject({ slug: 'recette-7', servings: 5.5, createdAt: { $date: '2025-01-01T07:00:00Z' } });
    expect(existsSync(join(extracted, 'ingredients_export.json'))).toBe(true);

    const targetName = mongo.database('grimoire_dev');
    const restored = await ferry(['restore', 'latest', '--yes'], env(targetName, backups));
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stdout).toMatch(/mongo\s+events\s+100000\s+100000\s+ok/);
    const target = client.db(targetName);
    for (const name of ['all_types', 'audit', 'big', 'categories', 'events', 'ingredients', 'recipes', 'sessions']) {
      const [a, b] = [await rawDocs(source, name), await rawDocs(target, name)];
      expect(b.length, name).toBe(a.length);
      expect(Buffer.concat(b).equals(Buffer.concat(a)), `${name} documents are byte-identical`).toBe(true);
      expect(await indexesOf(target, name), `${name} indexes`).toEqual(await indexesOf(source, name));
    }
    const infos = await target.listCollections({}, { nameOnly: false }).toArray();
    expect(infos.find((c) => c.name === 'audit')?.options).toMatchObject({ capped: true, size: 1_048_576, max: 1000 });
    expect(infos.find((c) => c.name === 'recipe_titles')).toMatchObject({ type: 'view', options: { viewOn: 'recipes' } });
    expect(infos.filter((c) => c.name.endsWith('__ferry_new'))).toEqual([]);
  });

  it('exports sample.bson as Extended JSON equal to the documents of sample.json', async () => {
    const client = await mongo.client();
    const name = mongo.database('sample');
    await insertFixture(client.db(name), 'recipes', join(TOOLS, 'bsondump/testdata/sample.bson'));
    const work = await tempDir();
    const made = await ferry(['backup'], env(name, join(work, 'b'), { FERRY_MONGODB_EXPORT_COLLECTIONS: 'recipes' }));
    expect(made.code, made.stderr).toBe(0);
    const x = join(work, 'x');
    mkdirSync(x);
    execFileSync('tar', ['-xzf', archiveIn(join(work, 'b')), '-C', x, 'recipes_export.json']);
    const ours = BSON.EJSON.parse(readFileSync(join(x, 'recipes_export.json'), 'utf8'), { relaxed: false }) as Document[];
    const theirs = readFileSync(join(TOOLS, 'bsondump/testdata/sample.json'), 'utf8').trim().split('\n').map((line) => BSON.EJSON.parse(line, { relaxed: false }) as Document);
    expect(ours.map((d) => BSON.EJSON.stringify(d, { relaxed: true }))).toEqual(theirs.map((d) => BSON.EJSON.stringify(d, { relaxed: true })));
  });
});

describe('restoring what real mongodump wrote', () => {
  const FIXTURE_DUMPS: Array<{ name: string; dir: string; files?: string[] }> = [
    { name: 'coll_with_index', dir: 'mongorestore/testdata/coll_with_index/test' },
    { name: 'coll_with_ttl_index', dir: 'mongorestore/testdata/coll_with_ttl_index/test' },
    { name: 'specialcharacter', dir: 'mongorestore/testdata/specialcharacter/db1' },
    { name: 'testdirs', dir: 'mongorestore/testdata/testdirs/db1' },
    { name: 'hashedIndexes', dir: 'mongorestore/testdata', files: ['hashedIndexes.bson', 'hashedIndexes.metadata.json'] },
    { name: 'partial_index', dir: 'test/qa-tests/jstests/restore/testdata/dump_ordered_partial_index/test' },
    { name: 'capped_changelog', dir: 'test/qa-tests/jstests/restore/testdata/dump_extended_json_options/test' },
    // Every BSON type, deprecated ones (undefined, DBPointer, symbol) included: written back as the same bytes
    // (all_in_one_doc and importCollection have no _id: the server gives them one, as mongod does).
    { name: 'all_types', dir: 'bsondump/testdata', files: ['all_types.bson', 'all_in_one_doc.bson', 'deep_nested.bson', 'broken_array.bson'] },
    { name: 'import_collection', dir: 'mongodump/testdata', files: ['importCollection.bson'] },
  ];

  for (const fixture of FIXTURE_DUMPS) {
    it(`restores ${fixture.dir} and dumps it back byte-identical`, async () => {
      const work = await tempDir();
      // An archive in the old scripts' layout (no manifest) around the real dump directory.
      const layout = join(work, 'layout', 'mongodb', 'dumpdb');
      mkdirSync(layout, { recursive: true });
      const source = join(TOOLS, fixture.dir);
      const files = fixture.files ?? readdirSync(source).filter((f) => f.endsWith('.bson') || f.endsWith('.metadata.json'));
      for (const f of files) cpSync(join(source, f), join(layout, f));
      const backups = join(work, 'backups');
      mkdirSync(backups);
      execFileSync('tar', ['-czf', join(backups, 'backup_20251028_143022.tar.gz'), '-C', join(work, 'layout'), 'mongodb']);

      const db = mongo.database(fixture.name);
      const restored = await ferry(['restore', 'latest', '--yes'], env(db, backups));
      expect(restored.code, restored.stderr).toBe(0);

      const again = join(work, 'again');
      const dumped = await ferry(['backup', '--no-prune'], env(db, again));
      expect(dumped.code, dumped.stderr).toBe(0);
      const x = join(work, 'x');
      mkdirSync(x);
      execFileSync('tar', ['-xzf', archiveIn(again), '-C', x]);
      const out = join(x, 'mongodb', db);
      for (const f of files.filter((n) => n.endsWith('.bson'))) expectSameDocuments(readFileSync(join(out, f)), readFileSync(join(source, f)), f);
      for (const f of files.filter((n) => n.endsWith('.metadata.json') && readFileSync(join(source, n), 'utf8').trim() !== '')) {
        const before = BSON.EJSON.parse(readFileSync(join(source, f), 'utf8'), { relaxed: true }) as Document;
        const after = BSON.EJSON.parse(readFileSync(join(out, f), 'utf8'), { relaxed: true }) as Document;
        // The server always builds the _id index itself, at its current version: compare its key only.
        const strip = (indexes: Document[]) => indexes
          .map(({ ns: _ns, ...rest }) => (rest.name === '_id_' ? { key: rest.key, name: rest.name } : rest))
          .sort((a, b) => String(a.name).localeCompare(String(b.name)));
        expect(strip(after.indexes as Document[]), `${f} indexes`).toEqual(strip(before.indexes as Document[]));
        expect(after.options ?? {}, `${f} options`).toEqual(before.options ?? {});
      }
    });
  }
});

describe('MongoDB failures', () => {
  it('wrong password and unreachable host: one line each, nothing written', async () => {
    const work = await tempDir();
    const wrong = await ferry(['backup'], { ...env('x', join(work, 'b')), MONGODB_USER: 'legrimoire', MONGODB_PASSWORD: 'not-it' });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^ferry: authentication failed for mongodb legrimoire@127\.0\.0\.1:\d+\/x$/m);
    expect(wrong.stderr).not.toContain('not-it');
    const { freePort } = await import('../../src/demo/throwaway-postgres.js');
    const port = await freePort();
    const unreachable = await ferry(['backup'], { MONGODB_URL: `mongodb://127.0.0.1:${port}`, MONGODB_DB_NAME: 'x', BACKUP_DIRECTORY: join(work, 'b'), FERRY_MONGODB_SERVER_SELECTION_TIMEOUT_SECONDS: '1' });
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(new RegExp(`^ferry: cannot connect to mongodb 127\\.0\\.0\\.1:${port}/x: no answer from 127\\.0\\.0\\.1:${port} within 1 s`, 'm'));
    expect(readdirSync(join(work, 'b')).filter((n) => n.includes('.tar.gz'))).toEqual([]);
  });

  it('a missing database is named', async () => {
    const work = await tempDir();
    const result = await ferry(['backup'], env('does_not_exist_here', join(work, 'b')));
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^ferry: database does_not_exist_here does not exist or has no collections on mongodb/m);
  });

  it('a duplicate _id inside a dump is reported with the collection and key, and the target collection is left as it was', async () => {
    const client = await mongo.client();
    const db = mongo.database('dup');
    const work = await tempDir();
    const layout = join(work, 'layout', 'mongodb', 'legacy');
    mkdirSync(layout, { recursive: true });
    const doc = (id: number, v: string) => Buffer.from(BSON.serialize({ _id: new Int32(id), v }));
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(layout, 'recipes.bson'), Buffer.concat([doc(1, 'a'), doc(2, 'b'), doc(1, 'again'), doc(3, 'c')]));
    const backups = join(work, 'backups');
    mkdirSync(backups);
    execFileSync('tar', ['-czf', join(backups, 'backup_20251028_143022.tar.gz'), '-C', join(work, 'layout'), 'mongodb']);
    await client.db(db).collection<IntKeyed>('recipes').insertOne({ _id: new Int32(99), v: 'existing dev data' });
    const result = await ferry(['restore', 'latest', '--yes'], env(db, backups));
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^ferry: duplicate key in mongodb\/legacy\/recipes\.bson: collection recipes has two documents with \{"_id":1\}$/m);
    expect(await client.db(db).collection('recipes').find().toArray()).toEqual([{ _id: 99, v: 'existing dev data' }]);
    expect((await client.db(db).listCollections().toArray()).map((c) => c.name)).toEqual(['recipes']);
  });

  const CORRUPT = ['bad_cstring.bson', 'bad_type.bson', 'partial_file.bson', 'random_bytes.bson', 'invalid_field_name.bson'];
  it.each(CORRUPT)('a corrupt %s inside an archive stops the restore with file and offset, touching nothing', async (file) => {
    const client = await mongo.client();
    const source = mongo.database('corrupt_src');
    await client.db(source).collection('recipes').insertMany([{ title: 'a' }, { title: 'b' }]);
    const work = await tempDir();
    const backups = join(work, 'backups');
    expect((await ferry(['backup'], env(source, backups))).code).toBe(0);
    replaceEntry(archiveIn(backups), `mongodb/${source}/recipes.bson`, readFileSync(join(TOOLS, 'bsondump/testdata', file)));
    const target = mongo.database('corrupt_dst');
    await client.db(target).collection('recipes').insertOne({ title: 'keep me' });
    const result = await ferry(['restore', 'latest', '--yes'], env(target, backups));
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(new RegExp(`^ferry: mongodb/${source}/recipes\\.bson is not valid BSON at byte \\d+: `, 'm'));
    const left = await client.db(target).collection('recipes').find().toArray();
    expect(left.map(({ _id, ...rest }) => rest)).toEqual([{ title: 'keep me' }]);
  });
});

describe('MongoDB in bounded memory, and partial restores', () => {
  it('dumps and restores a collection 2.5 times larger than the heap Ferry is given', async () => {
    const client = await mongo.client();
    const name = mongo.database('large');
    // Few large documents: the bytes are what the heap must not hold, and per-document work is what costs time.
    const filler = 'y'.repeat(16_000);
    for (let i = 0; i < 16; i++) {
      await client.db(name).collection('recipes').insertMany(Array.from({ length: 500 }, (_, k) => ({ n: new Int32(i * 500 + k), filler })));
    }
    const work = await tempDir();
    const backups = join(work, 'b');
    // The scripts' JSON export of recipes (on by default without a config) is not what this measures.
    const lowHeap = { NODE_OPTIONS: '--max-old-space-size=48', FERRY_MONGODB_EXPORT_COLLECTIONS: '' };
    const made = await ferry(['backup', '--json'], { ...env(name, backups), ...lowHeap });
    expect(made.code, made.stderr).toBe(0);
    expect(storesByKind(made.stdout).mongo?.bytes).toBeGreaterThan(2.4 * 48 * 1024 * 1024);
    const target = mongo.database('large_dev');
    const restored = await ferry(['restore', 'latest', '--yes'], { ...env(target, backups), ...lowHeap });
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stdout).toMatch(/mongo\s+recipes\s+8000\s+8000\s+ok/);
  }, 300_000);

  it('--collections restores only those, --only mongo leaves the other stores alone', async () => {
    const client = await mongo.client();
    const name = mongo.database('partial');
    await client.db(name).collection('recipes').insertMany([{ t: 1 }, { t: 2 }]);
    await client.db(name).collection('ingredients').insertMany([{ i: 1 }]);
    const work = await tempDir();
    const uploads = join(work, 'uploads');
    mkdirSync(uploads);
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(uploads, 'photo.jpg'), 'jpeg');
    const backups = join(work, 'b');
    expect((await ferry(['backup'], { ...env(name, backups), UPLOADS_DIR: uploads })).code).toBe(0);

    const target = mongo.database('partial_dev');
    await client.db(target).collection('ingredients').insertOne({ local: true });
    const devUploads = join(work, 'dev-uploads');
    mkdirSync(devUploads);
    writeFileSync(join(devUploads, 'mine.jpg'), 'mine');
    const restored = await ferry(['restore', 'latest', '--yes', '--only', 'mongo', '--collections', 'recipes'], { ...env(target, backups), UPLOADS_DIR: devUploads });
    expect(restored.code, restored.stderr).toBe(0);
    expect(await client.db(target).collection('recipes').find().toArray()).toHaveLength(2);
    expect((await client.db(target).collection('ingredients').find().toArray()).map(({ _id, ...rest }) => rest)).toEqual([{ local: true }]);
    expect(readdirSync(devUploads)).toEqual(['mine.jpg']);
  });
});

describe('ferry demo with a MongoDB configured', () => {
  it('includes MongoDB in its own databases and drops them afterwards', async () => {
    const result = await ferry(['demo'], { MONGODB_URL: mongo.url, MONGODB_USER: mongo.user, MONGODB_PASSWORD: mongo.password });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/mongo\s+recipes\s+250\s+250\s+ok/);
    expect(result.stdout).toMatch(/postgres\s+public\.recipes\s+250\s+250\s+ok/);
    const client = await mongo.client();
    const names = (await client.db('admin').command({ listDatabases: 1 })).databases as Array<{ name: string }>;
    expect(names.filter((d) => d.name.startsWith('ferry_demo_'))).toEqual([]);
  });
});

describe('all three stores in one archive', () => {
  it('backs up PostgreSQL, MongoDB and uploads into the layout of product.md and restores them with one count table', async () => {
    const { createDatabase, pgUrl, query, tableDigests, uniqueName } = await import('../support/pg.js');
    const pg = await createDatabase(uniqueName('all_pg'));
    await query(pg, 'CREATE TABLE users (id int PRIMARY KEY, email text); INSERT INTO users SELECT i, i || \'@example.org\' FROM generate_series(1, 30) i;');
    const client = await mongo.client();
    const db = mongo.database('all_mongo');
    await client.db(db).collection('recipes').insertMany([{ title: 'tarte' }, { title: 'soupe' }]);
    await client.db(db).collection('ingredients').insertMany([{ name: 'sel' }]);
    const work = await tempDir();
    const uploads = join(work, 'uploads');
    mkdirSync(join(uploads, 'images'), { recursive: true });
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(uploads, 'images', 'tarte.jpg'), 'jpeg');
    const backups = join(work, 'b');
    const all = { ...env(db, backups, { FERRY_MONGODB_EXPORT_COLLECTIONS: 'recipes,ingredients' }), DATABASE_URL: pgUrl(pg), UPLOADS_DIR: uploads };
    const made = await ferry(['backup'], all);
    expect(made.code, made.stderr).toBe(0);
    const listing = execFileSync('tar', ['-tzf', archiveIn(backups)]).toString().trim().split('\n').sort();
    expect(listing).toEqual([
      'backup_info.txt', 'ingredients_export.json', 'manifest.json',
      `mongodb/${db}/ingredients.bson`, `mongodb/${db}/ingredients.metadata.json`, `mongodb/${db}/recipes.bson`, `mongodb/${db}/recipes.metadata.json`,
      'postgresql/database.backup', 'postgresql/database.sql', 'recipes_export.json', 'uploads/', 'uploads/images/', 'uploads/images/tarte.jpg',
    ]);

    const intoSource = await ferry(['restore', 'latest', '--yes', '--only', 'mongo'], all);
    expect(intoSource.code).toBe(4);
    expect(intoSource.stderr).toMatch(/^ferry: refusing to restore into mongodb .*: it is the database this archive was taken from$/m);

    const pgTarget = uniqueName('all_pg_dev');
    const mongoTarget = mongo.database('all_mongo_dev');
    const restored = await ferry(['restore', 'latest', '--yes'], { ...env(mongoTarget, backups), DATABASE_URL: pgUrl(pgTarget), UPLOADS_DIR: join(work, 'dev-uploads') });
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stdout).toMatch(/postgres\s+public\.users\s+30\s+30\s+ok/);
    expect(restored.stdout).toMatch(/mongo\s+recipes\s+2\s+2\s+ok/);
    expect(restored.stdout).toMatch(/uploads\s+files\s+1\s+1\s+ok/);
    expect(await tableDigests(pgTarget)).toEqual(await tableDigests(pg));
  });
});
