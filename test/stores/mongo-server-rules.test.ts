import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BSON, Int32 } from 'bson';
import { MongoClient, type Db } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ferry, startFerry } from '../support/cli.js';
import { mongoStoreFrom, restoreThroughLibrary, storeContext } from '../support/mongo/library.js';
import { MongoTestServer } from '../support/mongo/server.js';
import { tempDir } from '../support/tmp.js';
import { storesByKind } from '../support/json.js';

/**
 * What a real mongod enforces and the test server now does too: roles, validators, options
 * `create` refuses, time-series collections that cannot be renamed, cursors that fail part-way.
 * These need the test server's users and faults, so they do not run against TEST_MONGODB_URL.
 */
const PASSWORD = 'role-test-password';
const DB = 'grimoire';
let server: MongoTestServer;
let url: string;
let root: MongoClient;
type Doc = { _id: Int32; v?: unknown };

beforeAll(async () => {
  server = new MongoTestServer({
    replicaSet: 'rs0',
    users: {
      root: PASSWORD,
      reader: { password: PASSWORD, roles: [{ role: 'read', db: DB }] },
      writer: { password: PASSWORD, roles: [{ role: 'readWrite', db: DB }] },
    },
  });
  url = await server.start();
  root = new MongoClient(url, { auth: { username: 'root', password: PASSWORD }, authSource: 'admin' });
  await root.connect();
});
afterAll(async () => {
  await root.close();
  await server.stop();
});

function env(user: string, backups: string, extra: Record<string, string> = {}): Record<string, string> {
  return { MONGODB_URL: url, MONGODB_DB_NAME: DB, MONGODB_USER: user, MONGODB_PASSWORD: PASSWORD, BACKUP_DIRECTORY: backups, ...extra };
}

async function values(db: Db, name: string): Promise<unknown[]> {
  return (await db.collection<Doc>(name).find().toArray()).map((d) => d.v);
}

/** An archive in the old scripts' layout with these files under mongodb/legacy/. */
function legacyArchive(work: string, files: Record<string, Buffer | string>): string {
  const layout = join(work, 'layout', 'mongodb', 'legacy');
  mkdirSync(layout, { recursive: true });
  for (const [name, bytes] of Object.entries(files)) writeFileSync(join(layout, name), bytes);
  const backups = join(work, 'backups');
  mkdirSync(backups);
  execFileSync('tar', ['-czf', join(backups, 'backup_20251028_143022.tar.gz'), '-C', join(work, 'layout'), 'mongodb']);
  return backups;
}

const bson = (doc: object) => Buffer.from(BSON.serialize(doc));

async function resetTarget(): Promise<Db> {
  const db = root.db(DB);
  await db.dropDatabase();
  await db.collection<Doc>('recipes').insertOne({ _id: new Int32(1), v: 'dev' });
  return db;
}

describe('roles and document validation', () => {
  const validated = {
    'recipes.bson': Buffer.concat([bson({ _id: new Int32(1), v: 'ok' }), bson({ _id: new Int32(2), other: 'no v' })]),
    'recipes.metadata.json': JSON.stringify({ options: { validator: { $jsonSchema: { required: ['v'] } } }, indexes: [] }),
  };

  it('a read user is refused before anything is touched, naming the missing actions', async () => {
    const db = await resetTarget();
    const backups = legacyArchive(await tempDir(), { 'recipes.bson': bson({ _id: new Int32(1), v: 'archived' }) });
    const result = await ferry(['restore', 'latest', '--yes'], env('reader', backups));
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^ferry: user reader may not restore into mongodb reader@127\.0\.0\.1:\d+\/grimoire: missing createCollection, insert, createIndex, renameCollectionSameDB, dropCollection on database grimoire$/m);
    expect(result.stderr).toMatch(/Grant the user the readWrite role on grimoire/);
    expect(await values(db, 'recipes')).toEqual(['dev']);
    expect(server.commandLog).not.toContain('create');
  });

  it('a readWrite user restores with validation on; a document the validator rejects fails the restore with its _id', async () => {
    const db = await resetTarget();
    const good = legacyArchive(await tempDir(), { 'recipes.bson': bson({ _id: new Int32(1), v: 'archived' }) });
    const restored = await ferry(['restore', 'latest', '--yes'], env('writer', good));
    expect(restored.code, restored.stderr).toBe(0);
    expect(await values(db, 'recipes')).toEqual(['archived']);

    await resetTarget();
    const bad = legacyArchive(await tempDir(), validated);
    const result = await ferry(['restore', 'latest', '--yes'], env('writer', bad));
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^ferry: document 2 of mongodb\/legacy\/recipes\.bson \(_id 2\) fails the validator of recipes: Document failed validation: required property v is missing$/m);
    expect(await values(db, 'recipes')).toEqual(['dev']);
    expect((await db.listCollections().toArray()).map((c) => c.name)).toEqual(['recipes']);
  });

  it('bypass_document_validation needs the bypassDocumentValidation action, and then inserts what the validator rejects', async () => {
    const db = await resetTarget();
    const backups = legacyArchive(await tempDir(), validated);
    const refused = await ferry(['restore', 'latest', '--yes'], env('writer', backups, { FERRY_MONGODB_BYPASS_DOCUMENT_VALIDATION: 'true' }));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/missing bypassDocumentValidation on database grimoire$/m);
    expect(await values(db, 'recipes')).toEqual(['dev']);
    const bypassed = await ferry(['restore', 'latest', '--yes'], env('root', backups, { FERRY_MONGODB_BYPASS_DOCUMENT_VALIDATION: 'true' }));
    expect(bypassed.code, bypassed.stderr).toBe(0);
    expect(await values(db, 'recipes')).toEqual(['ok', undefined]);
  });

  it('a read user may back up', async () => {
    await resetTarget();
    const work = await tempDir();
    const made = await ferry(['backup'], env('reader', join(work, 'b')));
    expect(made.code, made.stderr).toBe(0);
  });
});

describe('collection kinds the server treats differently', () => {
  it('an option the server refuses fails before any target collection is touched, naming collection, option and version', async () => {
    const db = await resetTarget();
    const backups = legacyArchive(await tempDir(), {
      'aaa.bson': bson({ _id: new Int32(1), v: 'loaded first' }),
      'recipes.bson': bson({ _id: new Int32(1), v: 'archived' }),
      'recipes.metadata.json': JSON.stringify({ options: { recordPreImages: true }, indexes: [] }),
    });
    const result = await ferry(['restore', 'latest', '--yes'], env('root', backups));
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^ferry: mongodb root@127\.0\.0\.1:\d+\/grimoire runs MongoDB 7\.0\.0, which cannot restore the archive as dumped: collection recipes: recordPreImages was removed in MongoDB 6\.2$/m);
    expect(await values(db, 'recipes')).toEqual(['dev']);
    expect((await db.listCollections().toArray()).map((c) => c.name)).toEqual(['recipes']);
  });

  it('a unique index the dumped documents break fails before any target collection is touched', async () => {
    const db = await resetTarget();
    const backups = legacyArchive(await tempDir(), {
      'recipes.bson': Buffer.concat([bson({ _id: new Int32(1), slug: 'tarte' }), bson({ _id: new Int32(2), slug: 'tarte' })]),
      'recipes.metadata.json': JSON.stringify({ indexes: [{ v: 2, key: { _id: 1 }, name: '_id_' }, { v: 2, key: { slug: 1 }, name: 'slug_1', unique: true }] }),
    });
    const result = await ferry(['restore', 'latest', '--yes'], env('root', backups));
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^ferry: MongoDB 7\.0\.0 refuses the dumped indexes of recipes: E11000 duplicate key error collection: grimoire\.recipes__ferry_new index: slug_1$/m);
    expect(await values(db, 'recipes')).toEqual(['dev']);
    expect((await db.listCollections().toArray()).map((c) => c.name)).toEqual(['recipes']);
  });

  it('time-series collections round trip, replaced in place as the plan says; the others are swapped', async () => {
    const db = await resetTarget();
    await db.createCollection('metrics', { timeseries: { timeField: 'at', metaField: 'sensor' } });
    await db.collection('metrics').insertMany([{ at: new Date(0), sensor: 'a', t: 1 }, { at: new Date(1000), sensor: 'a', t: 2 }]);
    const work = await tempDir();
    const backups = join(work, 'b');
    const made = await ferry(['backup', '--json'], env('root', backups));
    expect(made.code, made.stderr).toBe(0);
    expect(storesByKind(made.stdout)).toMatchObject({ mongo: { counts: { metrics: 2, recipes: 1 }, facts: { timeseries: 'metrics' } } });

    const targetEnv = env('root', backups, { MONGODB_DB_NAME: 'grimoire_dev' });
    const dev = root.db('grimoire_dev');
    await dev.createCollection('metrics', { timeseries: { timeField: 'at' } });
    await dev.collection('metrics').insertOne({ at: new Date(5), t: 99 });
    const store = await mongoStoreFrom(targetEnv);
    const sidecar = `${(JSON.parse(made.stdout) as { archive: string }).archive}.manifest.json`;
    const manifest = (JSON.parse(readFileSync(sidecar, 'utf8')) as { stores: { mongo: Parameters<NonNullable<typeof store.inspectTarget>>[0] } }).stores.mongo;
    const target = await store.inspectTarget(manifest, {}, storeContext());
    expect(target.notes).toContain('metrics: time-series, replaced in place, no undo');

    const result = await restoreThroughLibrary(targetEnv, 'latest', {});
    expect(result.stores[0]?.notes).toEqual(expect.arrayContaining(['metrics: time-series, replaced in place (no undo)', 'recipes: created (it did not exist; undo leaves it empty)']));
    expect((await dev.collection('metrics').find().toArray()).map((d) => d.t)).toEqual([1, 2]);
    const kinds = Object.fromEntries((await dev.listCollections().toArray()).map((c) => [c.name, c.type]));
    expect(kinds).toEqual({ metrics: 'timeseries', recipes: 'collection', recipes__ferry_prev: 'collection' });
  });
});

describe('a dump that fails part-way', () => {
  for (const mode of ['error', 'close'] as const) {
    it(`a cursor ${mode === 'error' ? 'error' : 'whose connection drops'} part-way: exit 1, no archive, earlier backups kept`, async () => {
      server.fault = undefined;
      const db = root.db(DB);
      await db.dropDatabase();
      for (let i = 0; i < 3; i++) await db.collection('events').insertMany(Array.from({ length: 1000 }, (_, k) => ({ n: i * 1000 + k })));
      const work = await tempDir();
      const backups = join(work, 'b');
      const first = await ferry(['backup'], env('root', backups));
      expect(first.code, first.stderr).toBe(0);
      const before = readdirSync(backups).sort();
      server.fault = { command: 'getMore', after: 1, mode };
      const failed = await ferry(['backup'], env('root', backups, { FERRY_BACKUP_KEEP_LAST: '1', FERRY_MONGODB_SERVER_SELECTION_TIMEOUT_SECONDS: '2' }));
      expect(server.fault).toBeUndefined();
      expect(failed.code, failed.stderr).toBe(1);
      expect(failed.stderr).toMatch(mode === 'error' ? /^ferry: mongodb root@.*: getMore failed: fault injected by the test$/m : /^ferry: .*(connection|closed|socket)/im);
      expect(readdirSync(backups).sort()).toEqual(before);
    });
  }
});

describe('a consistent dump', () => {
  it('reads every collection at one cluster time: documents inserted into a later collection meanwhile are not in the archive', async () => {
    const db = root.db(DB);
    await db.dropDatabase();
    for (let i = 0; i < 3; i++) await db.collection('a_first').insertMany(Array.from({ length: 1000 }, (_, k) => ({ n: i * 1000 + k })));
    await db.collection('b_second').insertMany([{ n: 1 }, { n: 2 }]);
    let reached!: () => void;
    let release!: () => void;
    const atGetMore = new Promise<void>((resolve) => (reached = resolve));
    server.hold = { command: 'getMore', reached, release: new Promise<void>((resolve) => (release = resolve)) };
    const work = await tempDir();
    const backups = join(work, 'b');
    const run = startFerry(['backup', '--json'], env('root', backups));
    await atGetMore;
    await db.collection('b_second').insertMany([{ n: 3 }, { n: 4 }, { n: 5 }]);
    release();
    const made = await run.done;
    expect(made.code, made.stderr).toBe(0);
    const mongoManifest = storesByKind(made.stdout).mongo!;
    expect(mongoManifest.counts).toEqual({ a_first: 3000, b_second: 2 });
    expect(mongoManifest.facts.atClusterTime).toMatch(/^Timestamp\(\d+, \d+\)$/);
    expect(mongoManifest.warnings).toEqual([]);
    const archive = join(backups, readdirSync(backups).find((n) => n.endsWith('.tar.gz'))!);
    const info = execFileSync('tar', ['-xzOf', archive, 'backup_info.txt']).toString();
    expect(info).toContain(`mongo consistency: snapshot: every collection read at cluster time ${mongoManifest.facts.atClusterTime}`);
    expect(await db.collection('b_second').estimatedDocumentCount()).toBe(5);
  });

  it('a standalone server gives no snapshot: the manifest and the log say so', async () => {
    const standalone = new MongoTestServer({ users: { root: PASSWORD } });
    const standaloneUrl = await standalone.start();
    try {
      const client = new MongoClient(standaloneUrl, { auth: { username: 'root', password: PASSWORD }, authSource: 'admin' });
      await client.connect();
      await client.db(DB).collection('recipes').insertOne({ v: 1 });
      await client.close();
      const made = await ferry(['backup', '--json'], { ...env('root', join(await tempDir(), 'b')), MONGODB_URL: standaloneUrl });
      expect(made.code, made.stderr).toBe(0);
      const mongoManifest = storesByKind(made.stdout).mongo!;
      expect(mongoManifest.warnings).toContain('not a snapshot across collections: a standalone server has no snapshot reads');
      expect(mongoManifest.facts.atClusterTime).toBeUndefined();
    } finally {
      await standalone.stop();
    }
  });
});
