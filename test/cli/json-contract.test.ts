import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ferry, type CliResult } from '../support/cli.js';
import { mongoEnv, startMongoTarget, type MongoTarget } from '../support/mongo-target.js';
import { createDatabase, pgUrl, query, uniqueName } from '../support/pg.js';
import { S3TestServer } from '../support/s3/server.js';
import { tempDir } from '../support/tmp.js';

/**
 * Every command that takes --json, run against the real test servers, and each document checked
 * against its schema in docs/json/: the contract scripts rely on (docs/scripting.md).
 */
const SCHEMA_DIR = fileURLToPath(new URL('../../docs/json/', import.meta.url));
const MASK_KEY = 'mask-key-for-tests-0123456789';

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;
const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
addFormats(ajv);
for (const file of readdirSync(SCHEMA_DIR).filter((f) => f.endsWith('.schema.json'))) ajv.addSchema(JSON.parse(readFileSync(join(SCHEMA_DIR, file), 'utf8')) as object);
const schema = (name: string): ValidateFunction => {
  const validate = ajv.getSchema(`${name}.schema.json`);
  if (validate === undefined) throw new Error(`docs/json/${name}.schema.json is missing`);
  return validate;
};

/**
 * The one document on stdout, checked against `name`'s schema, or the error schema when the command
 * failed before it had a result.
 */
function documentOf(result: CliResult, name: string): Record<string, unknown> {
  const document = JSON.parse(result.stdout) as Record<string, unknown>;
  const errorOnly = Object.keys(document).every((key) => key === 'schemaVersion' || key === 'error');
  const validate = schema(errorOnly ? 'error' : name);
  expect(validate(document), `${name}: ${JSON.stringify(validate.errors, null, 2)}\n${result.stdout}`).toBe(true);
  expect(document.schemaVersion).toBe(1);
  return document;
}

let mongo: MongoTarget;
let s3: S3TestServer;
let work: string;
let env: Record<string, string>;
let config: string;
let pgDb: string;

beforeAll(async () => {
  mongo = await startMongoTarget();
  s3 = new S3TestServer(await tempDir('ferry-s3-'));
  await s3.start();
  work = await tempDir();
  pgDb = await createDatabase(uniqueName('jsonc'));
  await query(pgDb, "CREATE TABLE users (id serial PRIMARY KEY, email text); INSERT INTO users (email) VALUES ('a@example.com'), ('b@example.com'), ('c@example.com')");
  const mongoDb = mongo.database('jsonc');
  const client = await mongo.client();
  await client.db(mongoDb).collection('recipes').insertMany([{ title: 'bread' }, { title: 'soup' }]);
  mkdirSync(join(work, 'uploads', 'photos'), { recursive: true });
  writeFileSync(join(work, 'uploads', 'photos', 'a.jpg'), 'jpeg bytes');
  config = join(work, 'ferry.config.yaml');
  writeFileSync(config, [
    'mask:', '  postgres:', '    users:', '      email: email',
    'notify:', '  on_success:', '    exec: [/bin/true]',
    'restore:', '  keep_pristine: true',
    '',
  ].join('\n'));
  env = {
    ...mongoEnv(mongo, mongoDb, join(work, 'backups')),
    DATABASE_URL: pgUrl(pgDb),
    UPLOADS_DIR: join(work, 'uploads'),
    FERRY_STORAGE_REMOTE: 's3://ferry/jsonc',
    FERRY_STORAGE_ENDPOINT: s3.endpoint,
    FERRY_STORAGE_FORCE_PATH_STYLE: 'true',
    AWS_ACCESS_KEY_ID: 'ferrytest',
    AWS_SECRET_ACCESS_KEY: 'ferrytest-secret',
    AWS_CONFIG_FILE: '/nonexistent',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
    FERRY_MASK_KEY: MASK_KEY,
  };
}, 120_000);

afterAll(async () => {
  await s3?.stop();
  await mongo?.stop();
});

const run = (...args: string[]) => ferry(['--config', config, '--json', ...args], env);

describe('the JSON contract v1', () => {
  it('every command prints one document that matches its schema, stores in one shape everywhere', async () => {
    const version = documentOf(await run('version'), 'version');
    expect(version.name).toBe('ferry');
    // --version is the same command, with --json on either side of it.
    expect(documentOf(await ferry(['--version', '--json'], env), 'version')).toEqual(version);

    const key = await run('key', 'generate', '-o', join(work, 'key.txt'));
    expect(key.code, key.stderr).toBe(0);
    expect(documentOf(key, 'key-generate').identityFile).toBe(join(work, 'key.txt'));

    const check = await run('db', 'check', '--wait', '0');
    expect(check.code, check.stderr).toBe(0);
    const checked = documentOf(check, 'db-check') as { stores: Array<{ kind: string; counts: unknown[] }> };
    expect(checked.stores.find((s) => s.kind === 'postgres')?.counts).toContainEqual({ object: 'public.users', expected: null, actual: 3 });
    expect(documentOf(await run('db', 'init', '--wait', '0'), 'db-init').ok).toBe(true);

    const backup = await run('backup');
    expect(backup.code, backup.stderr).toBe(0);
    const made = documentOf(backup, 'backup') as { archive: string; stores: Array<{ kind: string; source: { database: string | null; path: string | null }; fingerprint: { by: string } | null; counts: unknown[] }>; upload: { location: string } };
    const pgStore = made.stores.find((s) => s.kind === 'postgres');
    expect(pgStore?.counts).toContainEqual({ object: 'public.users', expected: 3, actual: 3 });
    expect(pgStore?.source.database).toBe(pgDb);
    expect(pgStore?.fingerprint?.by).toBe('system-identifier');
    expect(made.stores.find((s) => s.kind === 'mongo')?.fingerprint?.by).toBe('collection-uuids');
    expect(made.stores.find((s) => s.kind === 'uploads')?.source.path).toBe(join(work, 'uploads'));
    expect(made.upload.location).toBe('s3://ferry/jsonc/');

    const listed = documentOf(await run('list'), 'list') as { location: string; backups: Array<{ name: string; stores: unknown[] }> };
    expect(listed.location).toBe(join(work, 'backups'));
    expect(listed.backups[0]?.stores).toHaveLength(3);
    expect(documentOf(await run('list', '--remote'), 'list').location).toBe('s3://ferry/jsonc/');
    documentOf(await run('inspect', 'latest'), 'inspect');
    expect(documentOf(await run('verify', 'latest'), 'verify').ok).toBe(true);
    expect((documentOf(await run('verify', 'all'), 'verify').archives as unknown[]).length).toBe(1);

    const health = await run('health');
    expect(health.code, health.stdout).toBe(0);
    const healthy = documentOf(health, 'health') as { newest: { ageSeconds: number; size: number }; freeBytes: number };
    expect(healthy.newest.size).toBeGreaterThan(0);
    expect(healthy.freeBytes).toBeGreaterThan(0);
    expect(documentOf(await run('health', '--remote'), 'health').location).toBe('s3://ferry/jsonc/');

    expect(documentOf(await run('prune', '--dry-run'), 'prune').location).toBe(join(work, 'backups'));
    expect(documentOf(await run('prune', '--remote', '--dry-run'), 'prune').location).toBe('s3://ferry/jsonc/');
    expect(documentOf(await run('push'), 'push').present).toEqual([made.archive.split('/').pop()]);
    expect(documentOf(await run('pull', 'latest'), 'pull').downloaded).toBe(false);

    const masked = await run('mask', 'latest', '-o', join(work, 'masked.tar.gz'));
    expect(masked.code, masked.stderr).toBe(0);
    expect(documentOf(masked, 'mask').objects).toContainEqual({ kind: 'postgres', object: 'public.users', rows: 3, masked: 3 });

    const restoreDb = uniqueName('jsonc_dev');
    const plan = await run('restore', 'latest', '--only', 'postgres', '--to-db', restoreDb, '--no-mask', '--dry-run');
    expect(plan.code, plan.stderr).toBe(0);
    const planned = documentOf(plan, 'restore') as { plan: { stores: Array<{ counts: unknown[]; targetExists: boolean }> } };
    expect(planned.plan.stores[0]?.counts).toContainEqual({ object: 'public.users', expected: 3, actual: null });
    const restore = await run('restore', 'latest', '--only', 'postgres', '--to-db', restoreDb, '--no-mask', '--yes');
    expect(restore.code, restore.stderr).toBe(0);
    const restored = documentOf(restore, 'restore') as { stores: Array<{ kind: string; counts: unknown[] }>; ok: boolean };
    expect(restored.ok).toBe(true);
    expect(restored.stores[0]?.counts).toContainEqual({ object: 'public.users', expected: 3, actual: 3 });
    const reset = await run('reset', '--only', 'postgres', '--to-db', restoreDb, '--yes');
    expect(reset.code, reset.stderr).toBe(0);
    expect(documentOf(reset, 'reset').actions).toEqual([{ kind: 'postgres', summary: expect.any(String) as unknown }]);
    const dropPlan = documentOf(await run('restore', '--drop-previous', '--dry-run', '--only', 'postgres', '--to-db', restoreDb), 'restore');
    expect(dropPlan).toMatchObject({ action: 'drop-previous', dryRun: true });
    expect(documentOf(await run('restore', '--drop-previous', '--only', 'postgres', '--to-db', restoreDb, '--yes'), 'restore').action).toBe('drop-previous');
    const undo = await run('restore', '--undo', '--only', 'postgres', '--to-db', restoreDb, '--yes');
    expect(undo.code).toBe(3);
    expect((documentOf(undo, 'restore').error as { code: string }).code).toBe('NOTHING_TO_UNDO');

    // A command that fails after its result: the result and the error, one document.
    const broken = join(work, 'broken', made.archive.split('/').pop()!);
    mkdirSync(join(work, 'broken'));
    const whole = readFileSync(made.archive);
    writeFileSync(broken, whole.subarray(0, Math.floor(whole.length / 2)));
    const corrupt = await run('verify', broken);
    expect(corrupt.code, corrupt.stderr).toBe(2);
    const reported = documentOf(corrupt, 'verify') as { ok: boolean; error: { code: string; exitCode: number } };
    expect(reported.ok).toBe(false);
    expect(reported.error).toMatchObject({ code: 'ARCHIVE_CORRUPT', exitCode: 2 });

    const notified = await run('notify', 'test');
    expect(notified.code, notified.stderr).toBe(0);
    expect(documentOf(notified, 'notify-test').results).toEqual([{ channel: 'exec', ok: true }]);
  }, 300_000);

  it.each([
    [['bakup'], /unknown command 'bakup'/, /Did you mean backup\?/],
    [['inspect'], /missing required argument 'archive'/, /ferry --help/],
    [['list', '--bogus'], /unknown option '--bogus'/, /ferry --help/],
    [['restore', 'latest', '--jobs', 'many'], /--jobs <n>' argument 'many' is invalid/, /ferry --help/],
  ])('usage error %j: the one error object on stdout, exit 3', async (args, message, hint) => {
    const result = await ferry(['--json', ...args], {});
    expect(result.code).toBe(3);
    const { error } = documentOf(result, 'error') as { error: { code: string; message: string; hint: string; exitCode: number } };
    expect(error.code).toBe('USAGE');
    expect(error.exitCode).toBe(3);
    expect(error.message).toMatch(message);
    expect(error.hint).toMatch(hint);
  });

  it('a configuration error with --json is the same error object', async () => {
    const result = await ferry(['--json', 'list'], { DATABASE_URL: 'mysql://app@db/app' });
    expect(result.code).toBe(3);
    expect((documentOf(result, 'error').error as { code: string }).code).toBe('CONFIG_INVALID');
  });

  it('the schemas fail on the shapes of before v1', () => {
    const count = { object: 'public.users', expected: 3, actual: null };
    const store = { kind: 'postgres', target: 'postgres app@db:5432/app', counts: [count], source: { description: 'postgres app@db:5432/app', user: 'app', hosts: ['db:5432'], database: 'app', path: null }, fingerprint: null, serverVersion: '15.18', toolVersion: null, bytes: 10, durationSeconds: 1, warnings: [], facts: {} };
    const listDoc = { schemaVersion: 1, location: '/b', remote: false, backups: [{ name: 'b', path: '/b/b', time: '2026-11-30T00:00:00.000Z', ageSeconds: 5, size: 1, stores: [store], status: 'complete', statusText: 'complete', verification: null }], foreign: [] };
    const validate = schema('list');
    expect(validate(listDoc), JSON.stringify(validate.errors)).toBe(true);
    const { location, ...withoutLocation } = listDoc;
    expect(validate({ ...withoutLocation, directory: location })).toBe(false);
    expect(validate({ ...listDoc, schemaVersion: 2 })).toBe(false);
    const withBackup = (changed: Record<string, unknown>) => ({ ...listDoc, backups: [{ ...listDoc.backups[0], ...changed }] });
    expect(validate(withBackup({ stores: { postgres: { counts: { 'public.users': 3 } } } }))).toBe(false);
    expect(validate(withBackup({ stores: [{ ...store, counts: { 'public.users': 3 } }] }))).toBe(false);
    expect(validate(withBackup({ stores: [{ ...store, source: 'postgres app@db:5432/app' }] }))).toBe(false);
    expect(validate(withBackup({ stores: [{ ...store, counts: [{ ...count, extra: 1 }] }] }))).toBe(false);
    expect(schema('error')({ schemaVersion: 1, error: { code: 'USAGE', message: 'x', exitCode: 3 } })).toBe(false);
  });
});
