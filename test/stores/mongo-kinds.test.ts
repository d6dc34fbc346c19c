import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BSON, Int32, type Document } from 'bson';
import { MongoClient, type Db } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ferry } from '../support/cli.js';
import { MongoTestServer } from '../support/mongo/server.js';
import { tempDir } from '../support/tmp.js';

/**
 * Collection kinds and index kinds, restored into a server whose version accepts them, and refused
 * before anything is touched by one that does not. Needs test servers of several versions, so it
 * does not run against TEST_MONGODB_URL.
 */
const PASSWORD = 'kinds-test-password';
const servers: MongoTestServer[] = [];
const clients: MongoClient[] = [];
type IntKeyed = { _id: Int32; [key: string]: unknown };

async function serverOf(version: string): Promise<{ server: MongoTestServer; url: string; client: MongoClient }> {
  const server = new MongoTestServer({ version, replicaSet: 'rs0', users: { root: PASSWORD } });
  const url = await server.start();
  const client = new MongoClient(url, { auth: { username: 'root', password: PASSWORD }, authSource: 'admin' });
  await client.connect();
  servers.push(server);
  clients.push(client);
  return { server, url, client };
}

let source: Awaited<ReturnType<typeof serverOf>>;
let backups: string;

function env(url: string, database: string, extra: Record<string, string> = {}): Record<string, string> {
  return { MONGODB_URL: url, MONGODB_DB_NAME: database, MONGODB_USER: 'root', MONGODB_PASSWORD: PASSWORD, BACKUP_DIRECTORY: backups, ...extra };
}

/** Options and indexes of every collection, without what belongs to one server (uuid, ns). */
async function shapeOf(db: Db): Promise<Record<string, { type: string; options: string; indexes: string[]; documents: string[] }>> {
  const out: Record<string, { type: string; options: string; indexes: string[]; documents: string[] }> = {};
  for (const info of await db.listCollections().toArray()) {
    const { uuid: _uuid, ...options } = (info as { options: Document }).options;
    const indexes = info.type === 'view' ? [] : (await db.collection(info.name).listIndexes().toArray()).map(({ ns: _ns, ...spec }) => BSON.EJSON.stringify(spec)).sort();
    const documents = info.type === 'view' ? [] : (await db.collection(info.name).find().toArray()).map((d) => BSON.EJSON.stringify(d));
    out[info.name] = { type: String(info.type), options: BSON.EJSON.stringify(options), indexes, documents };
  }
  return out;
}

async function collectionNames(db: Db): Promise<string[]> {
  return (await db.listCollections().toArray()).map((c) => c.name).sort();
}

beforeAll(async () => {
  source = await serverOf('7.0.2');
  const db = source.client.db('grimoire');
  await db.createCollection('readings', { timeseries: { timeField: 'at', metaField: 'sensor', bucketMaxSpanSeconds: 3600, bucketRoundingSeconds: 3600 }, expireAfterSeconds: 86400 });
  await db.collection('readings').insertMany([{ at: new Date(0), sensor: 'oven', t: 180 }, { at: new Date(60_000), sensor: 'oven', t: 200 }]);
  await db.createCollection('journal', { capped: true, size: 65536, max: 100 });
  await db.collection<IntKeyed>('journal').insertMany([{ _id: new Int32(1), line: 'started' }, { _id: new Int32(2), line: 'baked' }]);
  await db.createCollection('orders', { clusteredIndex: { key: { _id: 1 }, unique: true, name: 'orders by id' }, changeStreamPreAndPostImages: { enabled: true } });
  await db.collection<IntKeyed>('orders').insertMany([{ _id: new Int32(7), total: 12 }]);
  await db.createCollection('recipes', {
    collation: { locale: 'fr', strength: 2 },
    validator: { $jsonSchema: { required: ['title'], properties: { title: { bsonType: 'string' } } } },
    validationLevel: 'strict',
    validationAction: 'error',
  });
  await db.collection<IntKeyed>('recipes').insertMany([
    { _id: new Int32(1), title: 'Tarte Tatin', slug: 'tarte-tatin', createdAt: new Date(0), place: { type: 'Point', coordinates: [2.35, 48.85] }, rank: 1 },
    { _id: new Int32(2), title: 'Crêpes', createdAt: new Date(0), place: { type: 'Point', coordinates: [-1.68, 48.11] }, rank: 2 },
  ]);
  await db.collection('recipes').createIndexes([
    { key: { createdAt: 1 }, name: 'ttl', expireAfterSeconds: 3600 * 24 * 365 * 100 },
    { key: { slug: 1 }, name: 'slug_partial', unique: true, partialFilterExpression: { slug: { $exists: true } } },
    { key: { title: 'text' }, name: 'title_text', default_language: 'french' },
    { key: { place: '2dsphere' }, name: 'place_2dsphere' },
    { key: { rank: 1 }, name: 'rank_hidden', hidden: true },
  ]);
  await db.createCollection('french_titles', { viewOn: 'recipes', pipeline: [{ $project: { title: 1 } }] });
  backups = join(await tempDir(), 'backups');
  const made = await ferry(['backup'], env(source.url, 'grimoire'));
  expect(made.code, made.stderr).toBe(0);
});

afterAll(async () => {
  for (const client of clients) await client.close();
  for (const server of servers) await server.stop();
});

describe('collection kinds a server version accepts', () => {
  it('time-series, capped, clustered, collation, validator, view and TTL/partial/text/2dsphere/hidden indexes round trip', async () => {
    const restored = await ferry(['restore', 'latest', '--yes'], env(source.url, 'grimoire_dev'));
    expect(restored.code, restored.stderr).toBe(0);
    const before = await shapeOf(source.client.db('grimoire'));
    const after = await shapeOf(source.client.db('grimoire_dev'));
    const kept = Object.keys(after).filter((name) => name.endsWith('__ferry_prev'));
    for (const name of kept) delete after[name];
    expect(after).toEqual(before);
    expect(Object.keys(after).sort()).toEqual(['french_titles', 'journal', 'orders', 'readings', 'recipes']);
  });

  it('the same archive into MongoDB 6.3, which takes every option it holds', async () => {
    const target = await serverOf('6.3.1');
    const restored = await ferry(['restore', 'latest', '--yes'], env(target.url, 'grimoire'));
    expect(restored.code, restored.stderr).toBe(0);
    expect(await shapeOf(target.client.db('grimoire'))).toMatchObject(await shapeOf(source.client.db('grimoire')));
  });
});

describe('collection kinds a server version refuses', () => {
  it('into MongoDB 5.0: refused before anything is touched, naming every collection, option and the version', async () => {
    const target = await serverOf('5.0.14');
    const dev = target.client.db('grimoire');
    await dev.collection<IntKeyed>('recipes').insertOne({ _id: new Int32(1), title: 'mine' });
    const namesBefore = await collectionNames(dev);
    const shapeBefore = await shapeOf(dev);
    const sentBefore = target.server.commandLog.length;
    const result = await ferry(['restore', 'latest', '--yes'], env(target.url, 'grimoire'));
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^ferry: mongodb root@127\.0\.0\.1:\d+\/grimoire runs MongoDB 5\.0\.14, which cannot restore the archive as dumped: collection orders: clusteredIndex needs MongoDB 5\.3 or later; collection orders: changeStreamPreAndPostImages needs MongoDB 6\.0 or later; collection readings: timeseries\.bucketMaxSpanSeconds needs MongoDB 6\.3 or later; collection readings: timeseries\.bucketRoundingSeconds needs MongoDB 6\.3 or later$/m);
    expect(result.stderr).toMatch(/leave orders, readings out with --collections/);
    expect(await collectionNames(dev)).toEqual(namesBefore);
    expect(await shapeOf(dev)).toEqual(shapeBefore);
    const sent = target.server.commandLog.slice(sentBefore);
    for (const write of ['create', 'insert', 'createIndexes', 'drop', 'renameCollection']) expect(sent).not.toContain(write);

    const without = await ferry(['restore', 'latest', '--yes', '--collections', 'journal,recipes'], env(target.url, 'grimoire'));
    expect(without.code, without.stderr).toBe(0);
    const { recipes, journal } = await shapeOf(source.client.db('grimoire'));
    expect(await shapeOf(dev)).toMatchObject({ recipes, journal });
  });

  it('an archive without the features fact (the old scripts\') is checked once read, still before anything is touched', async () => {
    const target = await serverOf('7.0.2');
    const dev = target.client.db('legacy');
    await dev.collection<IntKeyed>('recipes').insertOne({ _id: new Int32(1), title: 'mine' });
    const shapeBefore = await shapeOf(dev);
    const sentBefore = target.server.commandLog.length;
    const work = await tempDir();
    const layout = join(work, 'layout', 'mongodb', 'legacy');
    mkdirSync(layout, { recursive: true });
    writeFileSync(join(layout, 'aaa.bson'), BSON.serialize({ _id: new Int32(1), v: 'loaded first' }));
    writeFileSync(join(layout, 'recipes.bson'), BSON.serialize({ _id: new Int32(1), title: 'archived' }));
    writeFileSync(join(layout, 'recipes.metadata.json'), JSON.stringify({ options: { recordPreImages: true }, indexes: [{ v: 2, key: { loc: 'geoHaystack', type: 1 }, name: 'loc_haystack', bucketSize: 1 }] }));
    const legacyBackups = join(work, 'backups');
    mkdirSync(legacyBackups);
    execFileSync('tar', ['-czf', join(legacyBackups, 'backup_20251028_143022.tar.gz'), '-C', join(work, 'layout'), 'mongodb']);
    const result = await ferry(['restore', 'latest', '--yes'], { ...env(target.url, 'legacy'), BACKUP_DIRECTORY: legacyBackups });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/runs MongoDB 7\.0\.2, which cannot restore the archive as dumped: collection recipes: recordPreImages was removed in MongoDB 6\.2; collection recipes: index loc_haystack: geoHaystack was removed in MongoDB 5\.0$/m);
    expect(await shapeOf(dev)).toEqual(shapeBefore);
    const sent = target.server.commandLog.slice(sentBefore);
    for (const write of ['create', 'insert', 'createIndexes', 'drop', 'renameCollection']) expect(sent).not.toContain(write);
  });
});
