import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLE_SQL, sampleMongoCollections, writeSampleUploads } from '../../src/demo/sample-data.js';
import { cleanEnv, FERRY_BIN, ferry, type CliResult } from '../support/cli.js';
import { fakeDocker } from '../support/docker.js';
import { MongoTestServer } from '../support/mongo/server.js';
import { createDatabase, pgServer, query, tableDigests, uniqueName } from '../support/pg.js';
import { tempDir } from '../support/tmp.js';
import { missing } from '../support/needs.js';

/** The stand-in docker builds each container with unshare, mount and chroot: root only. */
const notRoot = missing('root (the stand-in docker mounts and chroots each container)', process.getuid?.() === 0);
import { snapshotTree } from '../support/tree.js';

const MONGO_PASSWORD = 'mongo-secret-in-env-only';

/**
 * Ferry in a network namespace of its own (as on a host where the Compose services publish no
 * port): the databases' ports do not exist for it, only the stand-in docker reaches them.
 */
function isolatedFerry(args: string[], env: Record<string, string>): Promise<CliResult> {
  const child = spawn('unshare', ['--net', process.execPath, FERRY_BIN, ...args], { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  return new Promise((resolveDone) => child.on('close', (code) => resolveDone({ code, stdout, stderr })));
}

describe.skipIf(notRoot)('Le Grimoire\'s Compose production, no published port: postgres.exec + mongodb.exec + uploads.exec', () => {
  let mongo: MongoTestServer;
  let mongoPort: number;
  beforeAll(async () => {
    mongo = new MongoTestServer({ users: { legrimoire: MONGO_PASSWORD } });
    mongoPort = Number(new URL(await mongo.start()).port);
  });
  afterAll(async () => {
    await mongo.stop();
  });

  function setUp(work: string) {
    const docker = fakeDocker(work, {
      'le-grimoire-db-prod': { env: { PGHOST: '127.0.0.1', PGPORT: String(pgServer().port) }, service: 'db' },
      'le-grimoire-mongodb-prod': { service: 'mongodb' },
      'le-grimoire-backend-prod': { service: 'backend' },
      'le-grimoire-backend-dev': {},
    }, { netns: `/proc/${process.pid}/ns/net` });
    return docker;
  }

  it('backs up all three stores through the containers and restores them into dev, with no secret in any argv', async () => {
    const work = await tempDir();
    const docker = setUp(work);
    const source = await createDatabase(uniqueName('grimoire_prod'));
    await query(source, SAMPLE_SQL);
    const database = `legrimoire_${uniqueName('x').slice(-6)}`;
    const client = new MongoClient(`mongodb://127.0.0.1:${mongoPort}`, { auth: { username: 'legrimoire', password: MONGO_PASSWORD } });
    const collections = sampleMongoCollections();
    for (const [name, docs] of Object.entries(collections)) await client.db(database).collection(name).insertMany(docs);
    const uploads = join(docker.root('le-grimoire-backend-prod'), 'app', 'uploads');
    await writeSampleUploads(uploads);
    const before = await snapshotTree(uploads);

    // localhost: inside each container the server is local; from Ferry's namespace these ports do not exist.
    const env = {
      ...docker.env,
      BACKUP_DIRECTORY: join(work, 'backups'),
      DATABASE_URL: `postgresql://${pgServer().user}:${encodeURIComponent(pgServer().password)}@localhost:${pgServer().port}/${source}`,
      FERRY_POSTGRES_EXEC: 'docker://le-grimoire-db-prod',
      MONGODB_URL: `mongodb://localhost:${mongoPort}/${database}`,
      MONGODB_USER: 'legrimoire',
      MONGODB_PASSWORD: MONGO_PASSWORD,
      FERRY_MONGODB_EXEC: 'docker://le-grimoire-mongodb-prod',
      FERRY_UPLOADS_EXEC: 'docker://le-grimoire-backend-prod:/app/uploads',
    };
    const made = await isolatedFerry(['backup'], env);
    expect(made.code, made.stderr).toBe(0);
    const manifestName = readdirSync(join(work, 'backups')).find((n) => n.endsWith('.manifest.json')) as string;
    const manifest = JSON.parse(readFileSync(join(work, 'backups', manifestName), 'utf8')) as { stores: Record<string, { counts: Record<string, number>; source: string }> };
    expect(manifest.stores.mongo?.source).toBe(`mongodb legrimoire@localhost:${mongoPort}/${database} in docker container le-grimoire-mongodb-prod`);
    expect(manifest.stores.mongo?.counts.recipes).toBe(collections.recipes?.length);
    expect(manifest.stores.uploads?.source).toBe('uploads /app/uploads in docker container le-grimoire-backend-prod');

    // The dev side: another database, another MongoDB database, another backend container's volume.
    const devPg = uniqueName('grimoire_dev');
    const devMongo = `${database}_dev`;
    const restored = await isolatedFerry(['restore', 'latest', '--yes'], {
      ...env,
      DATABASE_URL: `postgresql://${pgServer().user}:${encodeURIComponent(pgServer().password)}@localhost:${pgServer().port}/${devPg}`,
      MONGODB_DB_NAME: devMongo,
      FERRY_UPLOADS_EXEC: 'docker://le-grimoire-backend-dev:/app/uploads',
    });
    expect(restored.code, restored.stderr).toBe(0);
    expect(await tableDigests(devPg)).toEqual(await tableDigests(source));
    for (const name of Object.keys(collections)) {
      const byId = (docs: Array<{ _id: unknown }>) => docs.map((d) => [String(d._id), d] as const).sort(([a], [b]) => a.localeCompare(b));
      const original = byId(await client.db(database).collection(name).find().toArray());
      expect(original.length).toBe(collections[name]?.length);
      expect(byId(await client.db(devMongo).collection(name).find().toArray())).toEqual(original);
    }
    expect(await snapshotTree(join(docker.root('le-grimoire-backend-dev'), 'app', 'uploads'))).toEqual(before);
    await client.close();

    const calls = docker.calls();
    expect(calls.some((c) => c.startsWith('exec -i le-grimoire-mongodb-prod sh -c '))).toBe(true);
    // The uploads cross with docker cp, never through a program of the container's.
    expect(calls).toContain('cp le-grimoire-backend-prod:/app/uploads -');
    expect(calls.some((c) => /^cp - le-grimoire-backend-dev:\/app\/uploads\/\.ferry-restore-\d+(\.\d+)?-[0-9a-f]+$/.test(c))).toBe(true);
    expect(calls.filter((c) => / tar /.test(c))).toEqual([]);
    const everyArgv = readFileSync(join(work, 'docker.log'), 'utf8');
    expect(everyArgv).not.toContain(MONGO_PASSWORD);
    expect(everyArgv).not.toContain(pgServer().password);
  });

  it('a wrong container name is one clear error, exit 1, and nothing is written or changed', async () => {
    const work = await tempDir();
    const docker = setUp(work);
    const backups = join(work, 'backups');
    const base = { ...docker.env, BACKUP_DIRECTORY: backups, MONGODB_URL: `mongodb://localhost:${mongoPort}/legrimoire`, MONGODB_USER: 'legrimoire', MONGODB_PASSWORD: MONGO_PASSWORD };
    const wrong = await isolatedFerry(['backup'], { ...base, FERRY_MONGODB_EXEC: 'docker://le-grimoire-mongo-prod' });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(new RegExp(`^ferry: cannot reach port ${mongoPort} in docker container le-grimoire-mongo-prod: Error response from daemon: No such container: le-grimoire-mongo-prod$`, 'm'));
    expect(wrong.stderr).toMatch(/^hint: Check that the container is running \(docker ps\)/m);
    expect(existsSync(backups) ? readdirSync(backups).filter((n) => n.endsWith('.tar.gz')) : []).toEqual([]);

    const service = await isolatedFerry(['backup'], { ...docker.env, BACKUP_DIRECTORY: backups, FERRY_UPLOADS_EXEC: 'compose://backnd:/app/uploads' });
    expect(service.code).toBe(1);
    expect(service.stderr).toMatch(/^ferry: cannot count \/app\/uploads in docker compose service backnd: service "backnd" is not running$/m);

    // docker itself missing: the same code, and a hint to install it.
    const empty = join(work, 'empty-bin');
    mkdirSync(empty);
    const missing = await ferry(['backup'], { ...base, PATH: empty, FERRY_FAKE_DOCKER: docker.env.FERRY_FAKE_DOCKER, FERRY_MONGODB_EXEC: 'docker://le-grimoire-mongodb-prod' });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^ferry: cannot run docker for mongodb\.exec docker:\/\/le-grimoire-mongodb-prod: docker is not on PATH$/m);
    expect(missing.stderr).toMatch(/^hint: Install the docker CLI/m);
  });

  it('uploads.exec: a restore that fills the volume leaves the folder as it was; --undo swaps the previous entries back', async () => {
    const work = await tempDir();
    const docker = setUp(work);
    await writeSampleUploads(join(docker.root('le-grimoire-backend-prod'), 'app', 'uploads'));
    const backups = join(work, 'backups');
    const made = await ferry(['backup'], { ...docker.env, BACKUP_DIRECTORY: backups, FERRY_UPLOADS_EXEC: 'docker://le-grimoire-backend-prod:/app/uploads' });
    expect(made.code, made.stderr).toBe(0);

    // A misspelt container in a restore: one error before anything is staged anywhere.
    const typo = await ferry(['restore', 'latest', '--yes'], { ...docker.env, BACKUP_DIRECTORY: backups, FERRY_UPLOADS_EXEC: 'docker://le-grimoire-backend-dv:/app/uploads' });
    expect(typo.code).toBe(1);
    expect(typo.stderr).toMatch(/^ferry: cannot count \/app\/uploads in docker container le-grimoire-backend-dv: Error response from daemon: No such container: le-grimoire-backend-dv$/m);
    expect(docker.calls().filter((c) => c.includes('le-grimoire-backend-dv'))).toHaveLength(1);

    // The dev container's volume: a 64 KB filesystem holding one file of its own.
    const dev = join(docker.root('le-grimoire-backend-dev'), 'app', 'uploads');
    mkdirSync(dev, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dev]);
    try {
      writeFileSync(join(dev, 'current.jpg'), 'the dev upload');
      const before = await snapshotTree(dev);
      const env = { ...docker.env, BACKUP_DIRECTORY: backups, FERRY_UPLOADS_EXEC: 'docker://le-grimoire-backend-dev:/app/uploads' };
      const full = await ferry(['restore', 'latest', '--yes'], env);
      expect(full.code).toBe(1);
      expect(full.stderr).toMatch(/^ferry: .*No space left on device/m);
      expect(await snapshotTree(dev)).toEqual(before);
    } finally {
      execFileSync('umount', [dev]);
    }

    writeFileSync(join(dev, 'current.jpg'), 'the dev upload');
    const env = { ...docker.env, BACKUP_DIRECTORY: backups, FERRY_UPLOADS_EXEC: 'docker://le-grimoire-backend-dev:/app/uploads' };
    const restored = await ferry(['restore', 'latest', '--yes'], env);
    expect(restored.code, restored.stderr).toBe(0);
    const skipOwn = (name: string) => name.startsWith('.ferry-');
    expect(await snapshotTree(dev, '', skipOwn)).toEqual(await snapshotTree(join(docker.root('le-grimoire-backend-prod'), 'app', 'uploads')));
    expect(readFileSync(join(dev, '.ferry-prev', 'current.jpg'), 'utf8')).toBe('the dev upload');
    const undo = await ferry(['restore', '--undo', '--yes'], env);
    expect(undo.code, undo.stderr).toBe(0);
    expect(readdirSync(dev).filter((n) => !skipOwn(n))).toEqual(['current.jpg']);
    expect(readFileSync(join(dev, 'current.jpg'), 'utf8')).toBe('the dev upload');
  });
});

describe.skipIf(notRoot)('the stand-in docker is as strict as docker exec', () => {
  it('passes stdin only with -i, only the image\'s and -e variables, and keeps host paths out of the container', async () => {
    const work = await tempDir();
    const docker = fakeDocker(work, { app: { env: { IMAGE_VAR: 'from-image' } } });
    const run = (args: string[], input?: string) => execFileSync('docker', args, { env: { ...process.env, ...docker.env, HOST_SECRET: 'host-only', PASSED: 'by-name' }, input: input ?? '', encoding: 'utf8' });
    expect(run(['exec', 'app', 'cat'], 'typed')).toBe('');
    expect(run(['exec', '-i', 'app', 'cat'], 'typed')).toBe('typed');
    const env = run(['exec', '-e', 'PASSED', 'app', 'env']);
    expect(env).toMatch(/^IMAGE_VAR=from-image$/m);
    expect(env).toMatch(/^PASSED=by-name$/m);
    expect(env).not.toContain('HOST_SECRET');
    expect(env).not.toContain('FERRY_FAKE_DOCKER');
    expect(run(['exec', 'app', 'sh', '-c', 'test -e "$1" && echo visible || echo absent', 'sh', work])).toBe('absent\n');
    let failure: { status: number; stderr: string } | undefined;
    try {
      run(['exec', 'nope', 'true']);
    } catch (error) {
      failure = error as { status: number; stderr: string };
    }
    expect(failure?.status).toBe(1);
    expect(failure?.stderr).toBe('Error response from daemon: No such container: nope\n');
  });
});
