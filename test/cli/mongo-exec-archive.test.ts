import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BSON } from 'bson';
import { MongoClient, type Document } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replaceEntry } from '../support/archive-edit.js';
import { cleanEnv, FERRY_BIN, ferry, type CliResult } from '../support/cli.js';
import { fakeDocker, type FakeDocker } from '../support/docker.js';
import { MongoTestServer } from '../support/mongo/server.js';
import { mongoToolsDir } from '../support/mongo-tools.js';
import { missing } from '../support/needs.js';
import { tempDir } from '../support/tmp.js';

const PASSWORD = 'archive-secret-in-env-only';
const CONTAINER = 'le-grimoire-mongodb-prod';
const tools = mongoToolsDir();
const skip = missing('root (the stand-in docker chroots each container)', process.getuid?.() === 0)
  || missing('the real mongodump/mongorestore (../shared/tools/mongo-tools/build.sh)', tools !== undefined);

/** Ferry where no database port exists: only the stand-in docker reaches the server (see compose-exec.test.ts). */
function startIsolated(args: string[], env: Record<string, string>, onStderr: (all: string) => void = () => undefined) {
  // unshare execs the command: the child is Ferry itself, for signals.
  const child = spawn('unshare', ['--net', process.execPath, FERRY_BIN, ...args], { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => {
    stderr += c;
    onStderr(stderr);
  });
  return { child, done: new Promise<CliResult>((resolveDone) => child.on('close', (code) => resolveDone({ code, stdout, stderr }))) };
}

function isolatedFerry(args: string[], env: Record<string, string>): Promise<CliResult> {
  return startIsolated(args, env).done;
}

/**
 * The MongoDB container as the official image is: the real mongodump and mongorestore on its PATH
 * (copied into its own root: the stand-in's /usr is this machine's). `wrap` replaces mongodump by
 * a script around the real one, to damage its stream.
 */
function mongoContainer(work: string, wrap?: string): FakeDocker {
  const docker = fakeDocker(work, { [CONTAINER]: { env: { PATH: '/opt/mongo-tools/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' }, service: 'mongodb' } }, { netns: `/proc/${process.pid}/ns/net` });
  const bin = join(docker.root(CONTAINER), 'opt', 'mongo-tools', 'bin');
  mkdirSync(bin, { recursive: true });
  for (const tool of ['mongodump', 'mongorestore']) copyFileSync(join(tools as string, tool), join(bin, tool));
  if (wrap !== undefined) {
    copyFileSync(join(tools as string, 'mongodump'), join(bin, 'mongodump.real'));
    writeFileSync(join(bin, 'mongodump'), `#!/bin/sh\n/opt/mongo-tools/bin/mongodump.real "$@" | ${wrap}\n`);
    chmodSync(join(bin, 'mongodump'), 0o755);
  }
  return docker;
}

/** Every entry of the archive under mongodb/, by path. */
function mongoEntries(backups: string, work: string): Record<string, Buffer> {
  const archive = readdirSync(backups).find((n) => n.endsWith('.tar.gz')) as string;
  const out = join(work, `x-${archive}`);
  mkdirSync(out);
  execFileSync('tar', ['-xzf', join(backups, archive), '-C', out]);
  const entries: Record<string, Buffer> = {};
  const walk = (dir: string, prefix: string) => {
    for (const name of readdirSync(dir, { withFileTypes: true })) {
      if (name.isDirectory()) walk(join(dir, name.name), `${prefix}${name.name}/`);
      else entries[`${prefix}${name.name}`] = readFileSync(join(dir, name.name));
    }
  };
  walk(join(out, 'mongodb'), 'mongodb/');
  return entries;
}

function manifestOf(backups: string): { stores: { mongo: { counts: Record<string, number>; toolVersion: string; warnings: string[]; facts: Record<string, string> } } } {
  return JSON.parse(readFileSync(join(backups, readdirSync(backups).find((n) => n.endsWith('.manifest.json')) as string), 'utf8'));
}

describe.skipIf(skip)('mongodb.exec: mongodump/mongorestore --archive in the container, no port reachable', () => {
  let server: MongoTestServer;
  let url: string;
  let port: number;
  let client: MongoClient;
  const database = 'legrimoire';
  const recipes = Array.from({ length: 500 }, (_, i) => ({ title: `recette ${i}`, ingredients: ['sel', 'œuf'], minutes: i % 90, at: new Date(1_700_000_000_000 + i) }));

  beforeAll(async () => {
    server = new MongoTestServer({ users: { legrimoire: PASSWORD } });
    url = await server.start();
    port = Number(new URL(url).port);
    client = new MongoClient(url, { auth: { username: 'legrimoire', password: PASSWORD } });
    const db = client.db(database);
    await db.collection('recipes').insertMany(recipes);
    await db.collection('recipes').createIndex({ title: 1 }, { name: 'title_1', unique: true });
    await db.collection('ingredients').insertMany([{ off_id: 'en:salt', names: { fr: 'sel' } }, { off_id: 'en:egg', names: { fr: 'œuf' } }]);
    await db.createCollection('wines');
    await db.createCollection('quick', { viewOn: 'recipes', pipeline: [] });
    // A copy an earlier restore kept: never part of a backup.
    await db.collection('recipes__ferry_prev').insertOne({ title: 'old' });
  });
  afterAll(async () => {
    await client.close();
    await server.stop();
  });

  const env = (docker: FakeDocker, backups: string, extra: Record<string, string> = {}) => ({
    ...docker.env,
    BACKUP_DIRECTORY: backups,
    MONGODB_URL: `mongodb://localhost:${port}/${database}`,
    MONGODB_USER: 'legrimoire',
    MONGODB_PASSWORD: PASSWORD,
    FERRY_MONGODB_EXEC: `docker://${CONTAINER}`,
    FERRY_MONGODB_EXPORT_COLLECTIONS: '',
    ...extra,
  });

  it('a backup through mongodump in the container holds the same entries as one over the wire; a restore through mongorestore swaps in and --undo swaps back', async () => {
    const work = await tempDir();
    const docker = mongoContainer(work);
    const viaArchive = join(work, 'archive');
    const made = await isolatedFerry(['backup'], env(docker, viaArchive));
    expect(made.code, made.stderr).toBe(0);
    expect(made.stderr).toContain(`data as mongodump --archive in docker container ${CONTAINER}`);
    const direct = join(work, 'direct');
    const plain = await ferry(['backup'], { BACKUP_DIRECTORY: direct, MONGODB_URL: `${url}/${database}`, MONGODB_USER: 'legrimoire', MONGODB_PASSWORD: PASSWORD, FERRY_MONGODB_EXPORT_COLLECTIONS: '' });
    expect(plain.code, plain.stderr).toBe(0);

    const archived = mongoEntries(viaArchive, work);
    expect(Object.keys(archived).sort()).toEqual(['ingredients', 'quick', 'recipes', 'wines'].flatMap((c) => (c === 'quick' ? [`mongodb/${database}/${c}.metadata.json`] : [`mongodb/${database}/${c}.bson`, `mongodb/${database}/${c}.metadata.json`])).sort());
    expect(archived).toEqual(mongoEntries(direct, work));
    const manifest = manifestOf(viaArchive).stores.mongo;
    expect(manifest.counts).toEqual({ recipes: 500, ingredients: 2, wines: 0 });
    expect(manifest.counts).toEqual(manifestOf(direct).stores.mongo.counts);
    expect(manifest.toolVersion).toBe('mongodump 100.11.0');
    expect(manifest.facts.consistency).toBe('none: collections read one after another by mongodump while the application may write');

    const calls = docker.calls();
    expect(calls.some((c) => c.includes(' mongodump --db legrimoire --archive --numParallelCollections=1 --excludeCollection=recipes__ferry_prev'))).toBe(true);
    expect(readFileSync(join(work, 'docker.log'), 'utf8')).not.toContain(PASSWORD);
    expect(readdirSync(join(docker.root(CONTAINER), 'tmp'))).toEqual([]);

    // Into a populated dev database: loaded beside by mongorestore, swapped in, the old one kept for --undo.
    const dev = 'legrimoire_dev';
    await client.db(dev).collection('recipes').insertMany([{ title: 'dev only' }]);
    await client.db(dev).collection('wines').insertMany([{ name: 'dev wine' }]);
    const restoreEnv = env(docker, viaArchive, { MONGODB_DB_NAME: dev });
    const restored = await isolatedFerry(['restore', 'latest', '--yes'], restoreEnv);
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stderr).toContain(`data as mongorestore --archive in docker container ${CONTAINER}`);
    const raw = async (db: string, name: string) => (await client.db(db).collection(name).find({}, { raw: true }).toArray()).map((d) => Buffer.from(d as unknown as Buffer).toString('hex'));
    for (const name of ['recipes', 'ingredients', 'wines']) expect(await raw(dev, name), name).toEqual(await raw(database, name));
    const indexes = await client.db(dev).collection('recipes').listIndexes().toArray();
    expect(indexes.map((i: Document) => [i.name, i.unique ?? false])).toEqual([['_id_', false], ['title_1', true]]);
    expect(docker.calls().some((c) => c.includes(' mongorestore --archive --maintainInsertionOrder'))).toBe(true);
    expect(readFileSync(join(work, 'docker.log'), 'utf8')).not.toContain(PASSWORD);
    expect(readdirSync(join(docker.root(CONTAINER), 'tmp'))).toEqual([]);

    // Masking applies on the way into mongorestore's stream, as into the driver's inserts.
    const config = join(work, 'mask.yaml');
    writeFileSync(config, 'mask:\n  mongodb:\n    ingredients:\n      off_id: "redacted-{hash:6}"\n');
    const masked = await isolatedFerry(['--config', config, 'restore', 'latest', '--yes'], { ...env(docker, viaArchive, { MONGODB_DB_NAME: 'legrimoire_masked' }), FERRY_MASK_KEY: 'mask-key-for-tests-0123456789' });
    expect(masked.code, masked.stderr).toBe(0);
    const offIds = (await client.db('legrimoire_masked').collection('ingredients').find().toArray()).map((d) => String(d.off_id));
    expect(offIds).toHaveLength(2);
    for (const id of offIds) expect(id).toMatch(/^redacted-[0-9a-f]{6}$/);
    expect(await raw('legrimoire_masked', 'recipes')).toEqual(await raw(database, 'recipes'));

    const undo = await isolatedFerry(['restore', '--undo', '--yes'], restoreEnv);
    expect(undo.code, undo.stderr).toBe(0);
    expect((await client.db(dev).collection('recipes').find().toArray()).map((d) => d.title)).toEqual(['dev only']);
    expect((await client.db(dev).collection('wines').find().toArray()).map((d) => d.name)).toEqual(['dev wine']);

    // mongorestore refusing the stream (a dump holding one _id twice): the target is left as it was.
    const archive = join(viaArchive, readdirSync(viaArchive).find((n) => n.endsWith('.tar.gz')) as string);
    const twice = Buffer.from(BSON.serialize({ _id: 'same', off_id: 'en:salt' }));
    replaceEntry(archive, `mongodb/${database}/ingredients.bson`, Buffer.concat([twice, twice]));
    const refused = await isolatedFerry(['restore', archive, '--yes'], restoreEnv);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^ferry: mongorestore in docker container le-grimoire-mongodb-prod failed: .*E11000 duplicate key error/m);
    expect(refused.stderr).not.toContain(PASSWORD);
    expect((await client.db(dev).collection('recipes').find().toArray()).map((d) => d.title)).toEqual(['dev only']);
    expect((await client.db(dev).listCollections().toArray()).map((c) => c.name).filter((n) => n.endsWith('__ferry_new'))).toEqual([]);
  });

  it('a damaged mongodump stream is one typed error naming the collection; no archive is written', async () => {
    const work = await tempDir();
    // One byte of one document changed on its way: "recette 7" becomes "recettE 7".
    const docker = mongoContainer(work, "perl -0777 -pe 's/recette 7\\x00/recettE 7\\x00/'");
    const backups = join(work, 'backups');
    const failed = await isolatedFerry(['backup'], env(docker, backups));
    expect(failed.code, failed.stderr).toBe(2);
    expect(failed.stderr).toMatch(new RegExp(`^ferry: the mongodump archive from docker container ${CONTAINER}: collection legrimoire\\.recipes fails its CRC-64 check \\(the archive says -?\\d+, its 500 documents give -?\\d+\\)$`, 'm'));
    expect(existsSync(backups) ? readdirSync(backups).filter((n) => n.endsWith('.tar.gz')) : []).toEqual([]);

    // Ctrl-C while mongodump streams: exit 130, nothing written, the configuration file gone from the container.
    const slow = mongoContainer(join(work, 'slow'), '{ sleep 60; cat; }');
    const run = startIsolated(['backup'], env(slow, backups), (all) => {
      if (all.includes('with mongodump')) run.child.kill('SIGINT');
    });
    const stopped = await run.done;
    expect(stopped.code, stopped.stderr).toBe(130);
    expect(existsSync(backups) ? readdirSync(backups).filter((n) => n.endsWith('.tar.gz')) : []).toEqual([]);
    expect(readdirSync(join(slow.root(CONTAINER), 'tmp'))).toEqual([]);

    // An image without the tools: archive asked for is a clear error; auto takes the tunnel and says so.
    const bare = fakeDocker(join(work, 'bare'), { [CONTAINER]: {} }, { netns: `/proc/${process.pid}/ns/net` });
    const refused = await isolatedFerry(['backup'], env(bare, backups, { FERRY_MONGODB_EXEC_TRANSFER: 'archive' }));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^ferry: mongodb\.exec_transfer is archive, and docker container le-grimoire-mongodb-prod has no mongodump on its PATH$/m);
    const tunnelled = await isolatedFerry(['backup'], env(bare, backups));
    expect(tunnelled.code, tunnelled.stderr).toBe(0);
    expect(tunnelled.stderr).toContain('data through the wire-protocol tunnel (docker container le-grimoire-mongodb-prod has no mongodump)');
  });
});
