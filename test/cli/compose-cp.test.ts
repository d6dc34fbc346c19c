import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLE_SQL, sampleMongoCollections, writeSampleUploads } from '../../src/demo/sample-data.js';
import { cleanEnv, FERRY_BIN, ferry, type CliResult } from '../support/cli.js';
import { fakeDocker, type FakeContainer } from '../support/docker.js';
import { MongoTestServer } from '../support/mongo/server.js';
import { missing } from '../support/needs.js';
import { createDatabase, pgServer, query, tableDigests, uniqueName } from '../support/pg.js';
import { tempDir } from '../support/tmp.js';
import { snapshotTree } from '../support/tree.js';

/** The stand-in docker builds each container with unshare, mount and chroot: root only. */
const notRoot = missing('root (the stand-in docker mounts and chroots each container)', process.getuid?.() === 0);

const MONGO_PASSWORD = 'mongo-secret-for-compose-cp';
const APP_USER = 1234;
const skipOwn = (name: string) => name.startsWith('.ferry-');

/** Ferry in a network namespace of its own: the databases' ports do not exist for it, only the containers reach them. */
function isolatedFerry(args: string[], env: Record<string, string>): Promise<CliResult> {
  const child = spawn('unshare', ['--net', process.execPath, FERRY_BIN, ...args], { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  return new Promise((resolveDone) => child.on('close', (code) => resolveDone({ code, stdout, stderr })));
}

function containers(): Record<string, FakeContainer> {
  return {
    'le-grimoire-db-prod': { env: { PGHOST: '127.0.0.1', PGPORT: String(pgServer().port) }, service: 'db' },
    'le-grimoire-mongodb-prod': { service: 'mongodb' },
    'le-grimoire-backend-prod': { service: 'backend' },
    'le-grimoire-backend-dev': { service: 'backend-dev' },
  };
}

const uploadsIn = (docker: { root(c: string): string }, container: string) => join(docker.root(container), 'app', 'uploads');
const archives = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((n) => /^backup_\d.*\.tar\.gz$/.test(n)) : []);

describe.skipIf(notRoot)('Compose production: uploads through docker cp, Compose v1 and v2, no port and no host path', () => {
  let mongo: MongoTestServer;
  let mongoPort: number;
  beforeAll(async () => {
    mongo = new MongoTestServer({ users: { legrimoire: MONGO_PASSWORD } });
    mongoPort = Number(new URL(await mongo.start()).port);
  });
  afterAll(async () => {
    await mongo.stop();
  });

  it('backs up all three stores with docker-compose (v1), restores with docker compose (v2) into populated targets, then reset brings the pristine uploads back', async () => {
    const work = await tempDir();
    const netns = `/proc/${process.pid}/ns/net`;
    const v1 = fakeDocker(work, containers(), { netns, compose: 'v1' });
    const source = await createDatabase(uniqueName('grimoire_prod'));
    await query(source, SAMPLE_SQL);
    const database = `legrimoire_${uniqueName('c').slice(-6)}`;
    const client = new MongoClient(`mongodb://127.0.0.1:${mongoPort}`, { auth: { username: 'legrimoire', password: MONGO_PASSWORD } });
    const collections = sampleMongoCollections();
    for (const [name, docs] of Object.entries(collections)) await client.db(database).collection(name).insertMany(docs);
    await writeSampleUploads(uploadsIn(v1, 'le-grimoire-backend-prod'));
    const uploaded = await snapshotTree(uploadsIn(v1, 'le-grimoire-backend-prod'));

    const pgUrl = (db: string) => `postgresql://${pgServer().user}:${encodeURIComponent(pgServer().password)}@localhost:${pgServer().port}/${db}`;
    const env = {
      BACKUP_DIRECTORY: join(work, 'backups'),
      DATABASE_URL: pgUrl(source),
      FERRY_POSTGRES_EXEC: 'compose://db',
      MONGODB_URL: `mongodb://localhost:${mongoPort}/${database}`,
      MONGODB_USER: 'legrimoire',
      MONGODB_PASSWORD: MONGO_PASSWORD,
      FERRY_MONGODB_EXEC: 'compose://mongodb',
      FERRY_UPLOADS_EXEC: 'compose://backend:/app/uploads',
    };
    const made = await isolatedFerry(['backup'], { ...v1.env, ...env });
    expect(made.code, made.stderr).toBe(0);
    const v1Calls = v1.calls();
    // `docker compose version` failed, so every Compose call went to docker-compose; the files crossed with docker cp.
    expect(v1Calls).toContain('compose version');
    expect(v1Calls.filter((c) => /^compose (exec|ps)/.test(c))).toEqual([]);
    for (const service of ['db', 'mongodb']) expect(v1Calls.some((c) => c.startsWith(`docker-compose exec -T ${service} `))).toBe(true);
    expect(v1Calls).toContain('docker-compose ps -q backend');
    expect(v1Calls).toContain('cp le-grimoire-backend-prod:/app/uploads -');

    // Populated dev targets: another database with its own rows, another MongoDB database, a volume owned by the app's user.
    const devPg = uniqueName('grimoire_dev');
    await createDatabase(devPg);
    await query(devPg, 'CREATE TABLE users (id int); INSERT INTO users VALUES (1), (2);');
    const devMongo = `${database}_dev`;
    await client.db(devMongo).collection('recipes').insertOne({ title: 'only in dev' });
    const v2 = fakeDocker(work, containers(), { netns });
    const dev = uploadsIn(v2, 'le-grimoire-backend-dev');
    mkdirSync(dev, { recursive: true });
    writeFileSync(join(dev, 'current.jpg'), 'the dev upload');
    chownSync(dev, APP_USER, APP_USER);
    const devEnv = { ...v2.env, ...env, DATABASE_URL: pgUrl(devPg), MONGODB_DB_NAME: devMongo, FERRY_UPLOADS_EXEC: 'compose://backend-dev:/app/uploads' };
    const restored = await isolatedFerry(['restore', 'latest', '--yes'], { ...devEnv, FERRY_RESTORE_KEEP_PRISTINE: 'true' });
    expect(restored.code, restored.stderr).toBe(0);
    expect(await tableDigests(devPg)).toEqual(await tableDigests(source));
    const byId = (docs: Array<{ _id: unknown }>) => docs.map((d) => [String(d._id), d] as const).sort(([a], [b]) => a.localeCompare(b));
    for (const name of Object.keys(collections)) {
      expect(byId(await client.db(devMongo).collection(name).find().toArray())).toEqual(byId(await client.db(database).collection(name).find().toArray()));
    }
    await client.close();
    expect(await snapshotTree(dev, '', skipOwn)).toEqual(uploaded);
    for (const rel of Object.keys(uploaded)) expect([rel, lstatSync(join(dev, rel)).uid]).toEqual([rel, APP_USER]);
    expect(readFileSync(join(dev, '.ferry-prev', 'current.jpg'), 'utf8')).toBe('the dev upload');
    const v2Calls = v2.calls();
    expect(v2Calls).toContain('compose ps -q backend-dev');
    expect(v2Calls.some((c) => /^cp - le-grimoire-backend-dev:\/app\/uploads\/\.ferry-restore-\d+(\.\d+)?-[0-9a-f]+$/.test(c))).toBe(true);
    expect(v2Calls.filter((c) => c.startsWith('docker-compose'))).toEqual([]);
    const everyArgv = readFileSync(join(work, 'docker.log'), 'utf8');
    expect(everyArgv).not.toContain(MONGO_PASSWORD);
    expect(everyArgv).not.toContain(pgServer().password);

    // The pristine copy shares its files with the folder (hard links): docker cp streams each second
    // name as a link to the first, inside .ferry-pristine, which is skipped; every file is still archived.
    const files = Object.values(uploaded).filter((e) => e.type === 'file').length;
    const symlinks = Object.values(uploaded).filter((e) => e.type === 'link').length;
    const uploadsOnly = { ...v2.env, BACKUP_DIRECTORY: join(work, 'dev-backups'), FERRY_UPLOADS_EXEC: 'docker://le-grimoire-backend-dev:/app/uploads' };
    const devBackup = await ferry(['backup', '--json'], uploadsOnly);
    expect(devBackup.code, devBackup.stderr).toBe(0);
    const manifestName = readdirSync(join(work, 'dev-backups')).find((n) => n.endsWith('.manifest.json')) as string;
    const manifest = JSON.parse(readFileSync(join(work, 'dev-backups', manifestName), 'utf8')) as { stores: Record<string, { counts: Record<string, number>; warnings: string[] }> };
    expect(manifest.stores.uploads?.counts).toMatchObject({ files, symlinks });
    expect(manifest.stores.uploads?.warnings).toEqual([]);
    expect(v2.calls().filter((c) => /^cp le-grimoire-backend-dev:\/app\/uploads\/.+ -$/.test(c))).toHaveLength(files + symlinks);

    // ferry reset: the uploads come back from .ferry-pristine, without the archive.
    writeFileSync(join(dev, 'written-by-a-test.jpg'), 'changed');
    rmSync(join(dev, 'wines'), { recursive: true });
    const reset = await ferry(['reset', '--yes'], uploadsOnly);
    expect(reset.code, reset.stderr).toBe(0);
    expect(await snapshotTree(dev, '', skipOwn)).toEqual(uploaded);
    expect(existsSync(join(dev, '.ferry-prev', 'written-by-a-test.jpg'))).toBe(true);
  });

  it('a container that stops mid-copy is one clear error: no archive, and a restore leaves the uploads as they were', async () => {
    const work = await tempDir();
    const docker = fakeDocker(work, containers());
    await writeSampleUploads(uploadsIn(docker, 'le-grimoire-backend-prod'));
    const backups = join(work, 'backups');
    const cut = fakeDocker(work, containers(), { cpCut: 100_000 });
    const env = { BACKUP_DIRECTORY: backups, FERRY_UPLOADS_EXEC: 'docker://le-grimoire-backend-prod:/app/uploads' };

    const failed = await ferry(['backup'], { ...cut.env, ...env });
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/^ferry: cannot copy \/app\/uploads out of docker container le-grimoire-backend-prod \(docker cp\): unexpected EOF$/m);
    expect(failed.stderr).toMatch(/^hint: Check that the container is running \(docker ps\)/m);
    expect(archives(backups)).toEqual([]);

    const made = await ferry(['backup'], { ...docker.env, ...env });
    expect(made.code, made.stderr).toBe(0);
    const dev = uploadsIn(docker, 'le-grimoire-backend-dev');
    mkdirSync(dev, { recursive: true });
    writeFileSync(join(dev, 'current.jpg'), 'the dev upload');
    const before = await snapshotTree(dev);
    const restore = await ferry(['restore', 'latest', '--yes'], { ...cut.env, ...env, FERRY_UPLOADS_EXEC: 'docker://le-grimoire-backend-dev:/app/uploads' });
    expect(restore.code).toBe(1);
    expect(restore.stderr).toMatch(/^ferry: docker cp into \/app\/uploads\/\.ferry-restore-\S+ in docker container le-grimoire-backend-dev (stopped before the archive's uploads were all written|failed): unexpected EOF$/m);
    // Nothing swapped, and the half-copied staging folder is gone.
    expect(await snapshotTree(dev)).toEqual(before);

    // What a Ferry killed mid-restore left is removed by the next restore; a living run's folder is not.
    mkdirSync(join(dev, '.ferry-restore-999999-deadbeef', 'recipes'), { recursive: true });
    const living = `.ferry-restore-${process.pid}-cafe0000`;
    mkdirSync(join(dev, living));
    // A swap killed half-way (the container stopped): the entries it moved aside are the user's, and the plan says where.
    mkdirSync(join(dev, '.ferry-swap-999999-deadbeef'));
    writeFileSync(join(dev, '.ferry-swap-999999-deadbeef', 'moved-aside.jpg'), 'a dev upload');
    const restored = await ferry(['restore', 'latest', '--yes'], { ...docker.env, ...env, FERRY_UPLOADS_EXEC: 'docker://le-grimoire-backend-dev:/app/uploads' });
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stdout + restored.stderr).toContain('left by a killed restore, removed first: /app/uploads/.ferry-restore-999999-deadbeef');
    expect(restored.stdout + restored.stderr).toContain('warning: /app/uploads/.ferry-swap-999999-deadbeef holds entries a swap killed half-way moved out of /app/uploads; Ferry leaves it');
    expect(readdirSync(dev).filter(skipOwn).sort()).toEqual(['.ferry-prev', living, '.ferry-swap-999999-deadbeef']);
    expect(await snapshotTree(dev, '', skipOwn)).toEqual(await snapshotTree(uploadsIn(docker, 'le-grimoire-backend-prod')));

    // Neither Compose: one error naming both, before anything is read.
    const none = await ferry(['backup'], { ...docker.env, ...env, FERRY_FAKE_DOCKER_NO_COMPOSE: '1', FERRY_UPLOADS_EXEC: 'compose://backend:/app/uploads' });
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^ferry: cannot run docker compose for uploads\.exec compose:\/\/backend: neither `docker compose` \(docker: 'compose' is not a docker command\.\) nor `docker-compose` works$/m);
    expect(archives(backups)).toHaveLength(1);
  });
});

describe.skipIf(notRoot)('the stand-in docker cp is as strict as docker cp', () => {
  it('streams under the folder\'s name, needs an existing destination folder for cp -, and answers with docker\'s messages', async () => {
    const work = await tempDir();
    const docker = fakeDocker(work, { app: { service: 'web' } });
    const run = (args: string[], input?: Buffer) => spawnSync('docker', args, { env: { ...process.env, ...docker.env }, input });
    mkdirSync(join(docker.root('app'), 'data', 'sub'), { recursive: true });
    writeFileSync(join(docker.root('app'), 'data', 'sub', 'a.txt'), 'alpha');
    const out = run(['cp', 'app:/data', '-']);
    expect(out.status).toBe(0);
    const listed = execFileSync('tar', ['-t', '-f', '-'], { input: out.stdout, encoding: 'utf8' }).split('\n').filter((l) => l !== '');
    expect(listed).toEqual(['data/', 'data/sub/', 'data/sub/a.txt']);

    mkdirSync(join(docker.root('app'), 'in'));
    expect(run(['cp', '-', 'app:/in'], out.stdout).status).toBe(0);
    expect(readFileSync(join(docker.root('app'), 'in', 'data', 'sub', 'a.txt'), 'utf8')).toBe('alpha');

    const failures: Array<[string[], string]> = [
      [['cp', 'nope:/data', '-'], 'Error response from daemon: No such container: nope\n'],
      [['cp', 'app:/missing', '-'], 'Error response from daemon: Could not find the file /missing in container app\n'],
      [['cp', '-', 'app:/missing'], 'destination "app:/missing" must be a directory\n'],
      [['cp', '-', 'app:/data/sub/a.txt'], 'destination "app:/data/sub/a.txt" must be a directory\n'],
      [['compose', 'ps', '-q', 'nope'], 'no such service: nope\n'],
    ];
    for (const [args, message] of failures) {
      const result = run(args, Buffer.alloc(0));
      expect([args.join(' '), result.status, result.stderr.toString()]).toEqual([args.join(' '), 1, message]);
    }
    expect(run(['compose', 'ps', '-q', 'web']).stdout.toString()).toBe('app\n');
  });
});
