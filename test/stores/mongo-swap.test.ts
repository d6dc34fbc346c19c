import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BSON, Int32 } from 'bson';
import type { Db } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ferry } from '../support/cli.js';
import { mongoStoreFrom, restoreThroughLibrary, storeContext } from '../support/mongo/library.js';
import { MongoTestServer } from '../support/mongo/server.js';
import { mongoEnv, startMongoTarget, type MongoTarget } from '../support/mongo-target.js';
import { tempDir } from '../support/tmp.js';
import { storesByKind } from '../support/json.js';

let mongo: MongoTarget;
type Doc = { _id: Int32; v: string };

beforeAll(async () => {
  mongo = await startMongoTarget();
});
afterAll(async () => {
  await mongo.stop();
});

function env(database: string, backups: string, extra: Record<string, string> = {}): Record<string, string> {
  return mongoEnv(mongo, database, backups, extra);
}

async function docs(db: Db, name: string): Promise<Array<{ v: unknown }>> {
  return (await db.collection<Doc>(name).find().toArray()).map(({ v }) => ({ v })).sort((a, b) => String(a.v).localeCompare(String(b.v)));
}

async function names(db: Db): Promise<string[]> {
  return (await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).sort();
}

/** An archive in the old scripts' layout (no manifest) holding these .bson files. */
function legacyArchive(work: string, files: Record<string, Buffer>): string {
  const layout = join(work, 'layout', 'mongodb', 'legacy');
  mkdirSync(layout, { recursive: true });
  for (const [name, bytes] of Object.entries(files)) writeFileSync(join(layout, name), bytes);
  const backups = join(work, 'backups');
  mkdirSync(backups);
  execFileSync('tar', ['-czf', join(backups, 'backup_20251028_143022.tar.gz'), '-C', join(work, 'layout'), 'mongodb']);
  return backups;
}

const bson = (id: number, v: string) => Buffer.from(BSON.serialize({ _id: new Int32(id), v }));

describe('MongoDB restore: all or nothing across collections', () => {
  it('a second collection that fails (duplicate _id) leaves both target collections as they were', async () => {
    const client = await mongo.client();
    const name = mongo.database('swap_fail');
    const db = client.db(name);
    await db.collection<Doc>('a').insertOne({ _id: new Int32(1), v: 'dev a' });
    await db.collection<Doc>('b').insertOne({ _id: new Int32(1), v: 'dev b' });
    const work = await tempDir();
    const backups = legacyArchive(work, {
      'a.bson': Buffer.concat([bson(1, 'archived a1'), bson(2, 'archived a2')]),
      'b.bson': Buffer.concat([bson(1, 'archived b1'), bson(1, 'archived b1 again')]),
    });
    const result = await ferry(['restore', 'latest', '--yes'], env(name, backups));
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toMatch(/^ferry: duplicate key in mongodb\/legacy\/b\.bson: collection b has two documents with \{"_id":1\}$/m);
    expect(await docs(db, 'a')).toEqual([{ v: 'dev a' }]);
    expect(await docs(db, 'b')).toEqual([{ v: 'dev b' }]);
    expect(await names(db)).toEqual(['a', 'b']);
  });

  for (const [failing, when] of [[2, 'between the two renames of a collection'], [3, 'after one collection was swapped']] as const) it(`a rename that fails ${when} renames back what was already swapped`, async () => {
    if (mongo.server === undefined) return; // Faults are injected into the test server.
    const client = await mongo.client();
    const name = mongo.database('swap_half');
    const db = client.db(name);
    await db.collection<Doc>('a').insertOne({ _id: new Int32(1), v: 'dev a' });
    await db.collection<Doc>('b').insertOne({ _id: new Int32(1), v: 'dev b' });
    const backups = legacyArchive(await tempDir(), { 'a.bson': bson(1, 'archived a'), 'b.bson': bson(1, 'archived b') });
    // a -> a__ferry_prev (1), a__ferry_new -> a (2), b -> b__ferry_prev (3).
    mongo.server.fault = { command: 'renameCollection', after: failing, mode: 'error' };
    const result = await ferry(['restore', 'latest', '--yes'], env(name, backups));
    expect(mongo.server.fault).toBeUndefined();
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/renameCollection failed: fault injected by the test/);
    expect(result.stderr).toMatch(/mongo: failed, left as it was/);
    expect(await docs(db, 'a')).toEqual([{ v: 'dev a' }]);
    expect(await docs(db, 'b')).toEqual([{ v: 'dev b' }]);
    expect(await names(db)).toEqual(['a', 'b']);
  });

  it('keeps what it replaced for undo, a pristine copy for reset, and neither shows in backups or db check', async () => {
    const client = await mongo.client();
    const sourceName = mongo.database('swap_src');
    const source = client.db(sourceName);
    await source.collection<Doc>('recipes').insertMany([{ _id: new Int32(1), v: 'tarte' }, { _id: new Int32(2), v: 'soupe' }]);
    await source.collection<Doc>('ingredients').insertMany([{ _id: new Int32(1), v: 'sel' }]);
    const work = await tempDir();
    const backups = join(work, 'b');
    expect((await ferry(['backup'], env(sourceName, backups))).code).toBe(0);

    const targetName = mongo.database('swap_dev');
    const target = client.db(targetName);
    await target.collection<Doc>('recipes').insertOne({ _id: new Int32(9), v: 'dev recipe' });
    const targetEnv = env(targetName, backups);
    const result = await restoreThroughLibrary(targetEnv, 'latest', { keepPristine: true });
    const notes = result.stores.find((s) => s.kind === 'mongo')?.notes ?? [];
    expect(notes).toContain('recipes: swapped in; the replaced collection is kept as recipes__ferry_prev');
    expect(notes).toContain('ingredients: created (it did not exist; undo leaves it empty)');
    expect(await docs(target, 'recipes')).toEqual([{ v: 'soupe' }, { v: 'tarte' }]);
    expect(await docs(target, 'recipes__ferry_prev')).toEqual([{ v: 'dev recipe' }]);
    expect(await docs(target, 'recipes__ferry_pristine')).toEqual([{ v: 'soupe' }, { v: 'tarte' }]);

    const store = await mongoStoreFrom(targetEnv);
    const ctx = storeContext();
    const kept = await store.keptCopies?.({}, ctx);
    expect(kept?.map((k) => k.role)).toEqual(['previous', 'pristine']);
    expect(kept?.[0]?.describe).toContain('ingredients__ferry_prev, recipes__ferry_prev');
    expect(kept?.[1]?.bytes).toBeGreaterThan(0);

    // Kept copies are not data: a backup of the dev database and db check leave them out.
    const devBackup = await ferry(['backup', '--json'], env(targetName, join(work, 'dev')));
    expect(devBackup.code, devBackup.stderr).toBe(0);
    expect(Object.keys(storesByKind(devBackup.stdout).mongo?.counts ?? {}).sort()).toEqual(['ingredients', 'recipes']);
    const check = await ferry(['db', 'check', '--json'], targetEnv);
    expect(check.code, check.stderr).toBe(0);
    const checked = JSON.parse(check.stdout) as { stores: Array<{ counts: Array<{ object: string }> }>; kept: Array<{ copies: Array<{ role: string }> }> };
    expect(checked.stores[0]?.counts.map((c) => c.object)).toEqual(['ingredients', 'recipes']);
    expect(checked.kept.flatMap((k) => k.copies.map((c) => c.role))).toEqual(['previous', 'pristine']);

    // A developer's experiment, then reset: the restored documents are back, the experiment is the previous copy.
    await target.collection<Doc>('recipes').insertOne({ _id: new Int32(3), v: 'experiment' });
    expect(await store.reset?.({}, ctx)).toMatch(/^reset 2 collections to their pristine copies \(ingredients, recipes\)/);
    expect(await docs(target, 'recipes')).toEqual([{ v: 'soupe' }, { v: 'tarte' }]);
    expect(await docs(target, 'recipes__ferry_prev')).toEqual([{ v: 'experiment' }, { v: 'soupe' }, { v: 'tarte' }]);
    // The pristine copy stays for the next reset.
    expect(await docs(target, 'recipes__ferry_pristine')).toEqual([{ v: 'soupe' }, { v: 'tarte' }]);

    // Undo swaps back, a second undo redoes.
    await store.undo?.({}, ctx);
    expect(await docs(target, 'recipes')).toEqual([{ v: 'experiment' }, { v: 'soupe' }, { v: 'tarte' }]);
    await store.undo?.({}, ctx);
    expect(await docs(target, 'recipes')).toEqual([{ v: 'soupe' }, { v: 'tarte' }]);

    expect(await store.dropKept?.(['previous', 'pristine'], {}, ctx)).toEqual([
      `${targetName}.ingredients__ferry_prev`, `${targetName}.ingredients__ferry_pristine`, `${targetName}.recipes__ferry_prev`, `${targetName}.recipes__ferry_pristine`,
    ]);
    expect(await names(target)).toEqual(['ingredients', 'recipes']);
    await expect(store.undo?.({}, ctx)).rejects.toMatchObject({ code: 'NOTHING_TO_UNDO' });
    await expect(store.reset?.({}, ctx)).rejects.toMatchObject({ code: 'NOTHING_TO_RESET' });
  });

  it('undo after a restore through the CLI brings back the previous documents', async () => {
    const client = await mongo.client();
    const sourceName = mongo.database('undo_src');
    await client.db(sourceName).collection<Doc>('recipes').insertMany([{ _id: new Int32(1), v: 'from production' }]);
    const work = await tempDir();
    const backups = join(work, 'b');
    expect((await ferry(['backup'], env(sourceName, backups))).code).toBe(0);
    const targetName = mongo.database('undo_dev');
    const target = client.db(targetName);
    await target.collection<Doc>('recipes').insertMany([{ _id: new Int32(1), v: 'mine' }, { _id: new Int32(2), v: 'also mine' }]);
    const restored = await ferry(['restore', 'latest', '--yes'], env(targetName, backups));
    expect(restored.code, restored.stderr).toBe(0);
    expect(await docs(target, 'recipes')).toEqual([{ v: 'from production' }]);
    const store = await mongoStoreFrom(env(targetName, backups));
    expect(await store.undo?.({}, storeContext())).toBe('swapped 1 collection with their previous copies (recipes)');
    expect(await docs(target, 'recipes')).toEqual([{ v: 'also mine' }, { v: 'mine' }]);
    // Without keep_pristine the restore keeps no pristine copy.
    await expect(store.reset?.({}, storeContext())).rejects.toMatchObject({ code: 'NOTHING_TO_RESET' });
  });

  it('removes a temporary collection left by a killed restore, and says so', async () => {
    const client = await mongo.client();
    const name = mongo.database('leftover');
    const db = client.db(name);
    await db.collection<Doc>('a__ferry_new').insertOne({ _id: new Int32(1), v: 'half loaded' });
    const work = await tempDir();
    const backups = legacyArchive(work, { 'a.bson': bson(1, 'archived') });
    const result = await restoreThroughLibrary(env(name, backups), 'latest', {});
    expect(result.stores[0]?.notes).toContain('removed a__ferry_new, left by an interrupted restore');
    expect(await names(db)).toEqual(['a', 'a__ferry_prev']);
    expect(await docs(db, 'a')).toEqual([{ v: 'archived' }]);
  });
});

describe('MongoDB connection strings and identity', () => {
  it('backs up, restores and checks through a seed list with replicaSet', async () => {
    const client = await mongo.client();
    const sourceName = mongo.database('rs_src');
    await client.db(sourceName).collection<Doc>('recipes').insertMany([{ _id: new Int32(1), v: 'rs' }]);
    const port = mongo.server?.port;
    if (port === undefined) return; // A real server is reached through TEST_MONGODB_URL as given.
    const seedList = (db: string) => `mongodb://127.0.0.1:${port},localhost:${port}/${db}?replicaSet=rs0&readPreference=primaryPreferred`;
    const work = await tempDir();
    const backups = join(work, 'b');
    const credentials = { MONGODB_USER: mongo.user ?? '', MONGODB_PASSWORD: mongo.password ?? '', BACKUP_DIRECTORY: backups };
    const logged = mongo.server?.readPreferenceLog.length ?? 0;
    const made = await ferry(['backup', '--json'], { ...credentials, MONGODB_URL: seedList(sourceName), FERRY_MONGODB_READ_PREFERENCE: 'secondaryPreferred' });
    expect(made.code, made.stderr).toBe(0);
    // Backups read where mongodb.read_preference says, over the URL's primaryPreferred.
    const finds = mongo.server?.readPreferenceLog.slice(logged).filter((entry) => entry.startsWith('find ')) ?? [];
    expect(finds.length).toBeGreaterThan(0);
    expect(new Set(finds)).toEqual(new Set(['find secondaryPreferred']));
    expect(storesByKind(made.stdout)).toMatchObject({ mongo: { target: `mongodb legrimoire@127.0.0.1:${port},localhost:${port}/${sourceName}`, source: { user: 'legrimoire', hosts: [`127.0.0.1:${port}`, `localhost:${port}`], database: sourceName }, facts: { replicaSet: 'rs0' } } });
    const targetName = mongo.database('rs_dev');
    const beforeRestore = mongo.server?.readPreferenceLog.length ?? 0;
    const restored = await ferry(['restore', 'latest', '--yes'], { ...credentials, MONGODB_URL: seedList(targetName) });
    expect(restored.code, restored.stderr).toBe(0);
    // A restore writes to the primary whatever the URL prefers (endSessions at close is the driver's own).
    expect(mongo.server?.readPreferenceLog.slice(beforeRestore).filter((entry) => !entry.endsWith(' primary') && !entry.startsWith('endSessions '))).toEqual([]);
    expect(await docs(client.db(targetName), 'recipes')).toEqual([{ v: 'rs' }]);
    const check = await ferry(['db', 'check'], { ...credentials, MONGODB_URL: seedList(targetName) });
    expect(check.code, check.stderr).toBe(0);
    expect(check.stdout).toMatch(/recipes\s+1/);
  });

  it('refuses the source however its URL is spelled, and allows another server with the same names', async () => {
    const port = mongo.server?.port;
    if (port === undefined) return;
    const client = await mongo.client();
    const name = mongo.database('identity');
    await client.db(name).collection<Doc>('recipes').insertMany([{ _id: new Int32(1), v: 'production' }]);
    const work = await tempDir();
    const backups = join(work, 'b');
    expect((await ferry(['backup'], env(name, backups))).code).toBe(0);
    await client.db(name).collection<Doc>('recipes').insertOne({ _id: new Int32(2), v: 'written after the backup' });
    for (const url of [`mongodb://localhost:${port}`, `mongodb://localhost:${port},127.0.0.1:${port}/?replicaSet=rs0`]) {
      const refused = await ferry(['restore', 'latest', '--yes'], { ...env(name, backups), MONGODB_URL: url });
      expect(refused.code, `${url}: ${refused.stderr}`).toBe(4);
      expect(refused.stderr).toMatch(/^ferry: refusing to restore into mongodb .*: it is the database this archive was taken from$/m);
    }
    expect(await docs(client.db(name), 'recipes')).toEqual([{ v: 'production' }, { v: 'written after the backup' }]);

    // A laptop whose server has the same replica set name and database name is another server.
    const other = new MongoTestServer({ users: { [mongo.user ?? 'legrimoire']: mongo.password ?? '' }, replicaSet: 'rs0' });
    const otherUrl = await other.start();
    try {
      const allowed = await ferry(['restore', 'latest', '--yes'], { ...env(name, backups), MONGODB_URL: otherUrl });
      expect(allowed.code, allowed.stderr).toBe(0);
      expect(other.storage.get(name, 'recipes')?.docs).toHaveLength(1);
    } finally {
      await other.stop();
    }
  });

  it('still reads the fingerprint of archives written before collection UUIDs were used', async () => {
    const client = await mongo.client();
    const name = mongo.database('old_fp');
    await client.db(name).collection<Doc>('recipes').insertOne({ _id: new Int32(1), v: 'x' });
    const store = await mongoStoreFrom(env(name, '/nonexistent'));
    const manifest = { kind: 'mongo', source: 's', counts: { recipes: 1 }, bytes: 1, durationSeconds: 0, warnings: [] };
    const old = await store.inspectTarget({ ...manifest, fingerprint: `mongodb replica set rs0 database ${name}` }, {}, storeContext());
    expect(old.fingerprint).toBe(`mongodb replica set rs0 database ${name}`);
    const other = await store.inspectTarget({ ...manifest, fingerprint: 'mongodb collections 00112233445566778899aabbccddeeff replica set rs0' }, {}, storeContext());
    expect(other.fingerprint).toMatch(/^mongodb collections [0-9a-f]{32} replica set rs0$/);
    expect(other.fingerprint).not.toContain('00112233445566778899aabbccddeeff');
  });
});

describe('the guard in a multi-store restore', () => {
  it('PostgreSQL into a new database and MongoDB into its source in one run: refused, neither touched', async () => {
    const { createDatabase, databaseExists, pgUrl, query, uniqueName } = await import('../support/pg.js');
    const pg = await createDatabase(uniqueName('guard_pg'));
    await query(pg, 'CREATE TABLE users (id int PRIMARY KEY); INSERT INTO users VALUES (1), (2);');
    const client = await mongo.client();
    const name = mongo.database('guard_mongo');
    await client.db(name).collection<Doc>('recipes').insertOne({ _id: new Int32(1), v: 'production' });
    const work = await tempDir();
    const backups = join(work, 'b');
    expect((await ferry(['backup'], { ...env(name, backups), DATABASE_URL: pgUrl(pg) })).code).toBe(0);
    await client.db(name).collection<Doc>('recipes').insertOne({ _id: new Int32(2), v: 'written after the backup' });
    const pgTarget = uniqueName('guard_pg_dev');
    const result = await ferry(['restore', 'latest', '--yes'], { ...env(name, backups), DATABASE_URL: pgUrl(pgTarget) });
    expect(result.code).toBe(4);
    expect(result.stderr).toMatch(/^ferry: refusing to restore into mongodb .*: it is the database this archive was taken from$/m);
    expect(await databaseExists(pgTarget)).toBe(false);
    expect(await docs(client.db(name), 'recipes')).toEqual([{ v: 'production' }, { v: 'written after the backup' }]);
  });
});

describe('undo and reset through the ferry command', () => {
  it('restore with keep_pristine, reset after a change, undo, drop-previous: each shows in the documents', async () => {
    const client = await mongo.client();
    const sourceName = mongo.database('cli_src');
    await client.db(sourceName).collection<Doc>('recipes').insertMany([{ _id: new Int32(1), v: 'from production' }]);
    const work = await tempDir();
    const backups = join(work, 'b');
    expect((await ferry(['backup'], env(sourceName, backups))).code).toBe(0);
    const targetName = mongo.database('cli_dev');
    const target = client.db(targetName);
    await target.collection<Doc>('recipes').insertOne({ _id: new Int32(7), v: 'mine' });
    const targetEnv = env(targetName, backups, { FERRY_RESTORE_KEEP_PRISTINE: 'true' });
    const restored = await ferry(['restore', 'latest', '--yes'], targetEnv);
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stdout + restored.stderr).toContain('recipes: swapped in; the replaced collection is kept as recipes__ferry_prev');

    await target.collection<Doc>('recipes').insertOne({ _id: new Int32(2), v: 'experiment' });
    const reset = await ferry(['reset', '--yes', '--only', 'mongo'], targetEnv);
    expect(reset.code, reset.stderr).toBe(0);
    expect(await docs(target, 'recipes')).toEqual([{ v: 'from production' }]);
    const undone = await ferry(['restore', '--undo', '--yes', '--only', 'mongo'], targetEnv);
    expect(undone.code, undone.stderr).toBe(0);
    expect(await docs(target, 'recipes')).toEqual([{ v: 'experiment' }, { v: 'from production' }]);

    const check = await ferry(['db', 'check'], targetEnv);
    expect(check.code, check.stderr).toBe(0);
    expect(check.stdout).toMatch(/recipes__ferry_prev/);
    const dropped = await ferry(['restore', '--drop-previous', '--yes', '--only', 'mongo'], targetEnv);
    expect(dropped.code, dropped.stderr).toBe(0);
    expect(await names(target)).toEqual(['recipes']);
  });
});
