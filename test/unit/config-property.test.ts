import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ENV_OVERRIDES } from '../../src/config/env-keys.js';
import { loadConfig } from '../../src/config/load.js';
import { ERROR_CODES } from '../../src/errors/codes.js';
import { anomalyRules } from '../../src/health/anomaly-rules.js';
import { FerryError } from '../../src/errors/index.js';
import { silentLogger } from '../../src/ops/context.js';
import { silentProgress, storesFromConfig } from '../../src/stores/index.js';
import { pgServer } from '../support/pg.js';
import { tempDir } from '../support/tmp.js';

/**
 * Generated configuration files, environment values and URLs thrown at config loading (and, for the
 * ones that load, at every store's preflight): each must end in success or a documented FerryError,
 * never an unexpected error (which the CLI reports as "this is a bug").
 */
const seed = Number(process.env.FERRY_PROPERTY_SEED ?? Date.now() % 2 ** 31);
console.log(`config properties: fast-check seed ${seed} (replay with FERRY_PROPERTY_SEED=${seed})`);

function expectDocumented(error: unknown, context: string): void {
  if (!(error instanceof FerryError)) throw new Error(`${context}: not a FerryError (this would be "this is a bug"): ${error instanceof Error ? error.stack : String(error)}`);
  expect(Object.keys(ERROR_CODES), context).toContain(error.code);
}

const KNOWN: Record<string, string[]> = {
  backup: ['directory', 'retention_days', 'keep_last', 'keep_daily', 'compression_level', 'temp_directory', 'encryption'],
  postgres: ['url', 'bin_dir', 'exec', 'connect_timeout_seconds', 'dump_compression', 'required_tables'],
  mongodb: ['url', 'database', 'user', 'password', 'collections', 'export_collections', 'insert_batch_size', 'indexes'],
  uploads: ['path', 'strict'],
  notify: ['on_failure', 'on_success', 'timeout_seconds'],
  storage: ['remote', 'endpoint', 'region', 'force_path_style', 'part_size_mb'],
  mask: ['postgres', 'mongodb'],
  restore: ['strategy', 'disconnect', 'before', 'after', 'hook_timeout_seconds', 'keep_pristine'],
  health: ['anomalies'],
};

const scalar = fc.oneof(
  fc.string(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null),
  fc.constantFrom('0x10', '1e1', '${HOME}', '${X:-$$y}', '$$', '~', 'age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq', 's3://b/p', 'docker://db', 'http://', '-1', '36501'),
);
const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  v: fc.oneof({ depthSize: 'small' }, scalar, fc.array(tie('v'), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 8 }), tie('v'), { maxKeys: 3 })),
})).v;

const section = (name: string) => fc.dictionary(
  fc.oneof(fc.constantFrom(...(KNOWN[name] ?? [])), fc.string({ maxLength: 10 })),
  value,
  { maxKeys: 4 },
);
const configFile = fc.record(
  Object.fromEntries(Object.keys(KNOWN).map((name) => [name, fc.oneof(section(name), value)])),
  { requiredKeys: [] },
);

const urlPart = fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('', '@', '#', ':', '/', '%', '%4', '%40', '?', '[', ']', '::1', ' ', 'é'));
const url = fc.tuple(
  fc.constantFrom('postgresql://', 'postgres://', 'mysql://', 'http://', 'postgresql:', '', 'mongodb://', 'mongodb+srv://'),
  urlPart, fc.constantFrom(':', ''), urlPart, fc.constantFrom('@', ''),
  fc.oneof(fc.constantFrom('127.0.0.1', 'localhost', '[::1]', '', 'h1,h2'), urlPart),
  fc.oneof(fc.constant(''), fc.integer({ min: -5, max: 100_000 }).map((p) => `:${p}`), urlPart.map((p) => `:${p}`)),
  fc.constantFrom('/db', '/', '', '/d?sslmode=disable', '?host=/tmp', '/db#x'),
).map((parts) => parts.join(''));

const envValue = fc.oneof(fc.string({ maxLength: 12 }), url, fc.constantFrom('0x10', '1e1', '07', '', ' 3 ', 'true', 'off', '../x'));
const environment = fc.dictionary(fc.constantFrom(...ENV_OVERRIDES.map((o) => o.variable)), envValue, { maxKeys: 5 });

describe('no bug from input: generated configuration', () => {
  it('config files and environment values end in success or a documented code', async () => {
    const root = await tempDir();
    let n = 0;
    await fc.assert(fc.asyncProperty(fc.oneof(configFile, fc.string()), environment, async (file, env) => {
      const cwd = join(root, String(n++));
      await mkdir(cwd);
      await writeFile(join(cwd, 'ferry.config.yaml'), typeof file === 'string' ? file : stringify(file));
      await loadConfig({ cwd, env }).catch((error: unknown) => expectDocumented(error, `file ${JSON.stringify(file)}, env ${JSON.stringify(env)}`));
    }), { seed, numRuns: 400 });
  });

  it('health.anomalies rules with generated names and values load or are CONFIG_INVALID, and loaded ones can be applied', async () => {
    const root = await tempDir();
    let n = 0;
    let applied = 0;
    const name = fc.oneof(fc.string({ minLength: 1, maxLength: 12 }), fc.constantFrom('public.t', '"a.b"', 'a.b.c', '"open', 't"', ' t', 'x'.repeat(64), 'a$b', '__proto__', 'constructor'));
    const percent = fc.oneof({ arbitrary: fc.integer({ min: 0, max: 100 }), weight: 4 }, { arbitrary: fc.oneof(fc.double(), fc.integer({ min: -5, max: 105 }), scalar), weight: 1 });
    const dropCount = fc.oneof({ arbitrary: fc.nat(), weight: 4 }, { arbitrary: fc.oneof(fc.integer(), scalar), weight: 1 });
    const rule = fc.oneof(
      { arbitrary: fc.constant({ shrink: 'expected' }), weight: 2 },
      { arbitrary: fc.record({ max_drop_percent: percent, max_drop_count: dropCount }, { requiredKeys: [] }), weight: 3 },
      { arbitrary: fc.oneof(value, fc.record({ shrink: value, max_drop_percent: percent }, { requiredKeys: [] })), weight: 1 },
    );
    const section = fc.record({
      max_drop_percent: percent, max_drop_count: dropCount,
      postgres: fc.dictionary(name, rule, { maxKeys: 2 }), mongodb: fc.dictionary(name, rule, { maxKeys: 2 }),
      uploads: fc.dictionary(fc.constantFrom('files', 'directories', 'symlinks', 'file'), rule, { maxKeys: 1 }),
    }, { requiredKeys: [] });
    await fc.assert(fc.asyncProperty(section, fc.dictionary(fc.string({ maxLength: 8 }), fc.nat(), { maxKeys: 3 }), async (anomalies, objects) => {
      const cwd = join(root, String(n++));
      await mkdir(cwd);
      await writeFile(join(cwd, 'ferry.config.yaml'), stringify({ health: { anomalies } }));
      const loaded = await loadConfig({ cwd, env: {} }).catch((error: unknown) => expectDocumented(error, JSON.stringify(anomalies)));
      if (loaded === undefined) return;
      const rules = anomalyRules(loaded.config.health?.anomalies);
      for (const object of Object.keys(objects)) rules.ruleFor('postgres', object);
      rules.unmatched([{ postgres: objects, mongo: objects }]);
      applied++;
    }), { seed, numRuns: 300 });
    // Not only refusals: the generator reaches configurations that load.
    expect(applied).toBeGreaterThan(10);
  });

  it('DATABASE_URL values end in success or CONFIG_INVALID (exit 3)', async () => {
    const cwd = await tempDir();
    await fc.assert(fc.asyncProperty(url, async (candidate) => {
      await loadConfig({ cwd, env: { DATABASE_URL: candidate } }).then(
        () => undefined,
        (error: unknown) => {
          expectDocumented(error, candidate);
          expect((error as FerryError).code, candidate).toBe('CONFIG_INVALID');
          expect((error as FerryError).exitCode).toBe(3);
        },
      );
    }), { seed, numRuns: 1000 });
  });

  it('configurations that load pass preflight or fail it with a documented code', async () => {
    const cwd = await tempDir();
    const server = pgServer();
    const local = fc.tuple(
      fc.constantFrom(server.user, 'nobody', ''), fc.constantFrom(server.password, 'wrong', '', 'p@ss#'),
      fc.constantFrom('127.0.0.1', 'localhost'), fc.constantFrom(server.port, 1, 9),
      fc.constantFrom('postgres', 'missing_db', 'db%20x', ''),
    ).map(([user, password, host, port, db]) => `postgresql://${encodeURIComponent(user)}${password === '' ? '' : `:${encodeURIComponent(password)}`}${user === '' && password === '' ? '' : '@'}${host}:${port}/${db}`);
    const mongo = fc.tuple(fc.constantFrom('mongodb://', 'mongodb+srv://', 'mongo://', ''), urlPart, fc.constantFrom('127.0.0.1:9', 'localhost:1', '', '127.0.0.1:99999'), fc.constantFrom('/app', '', '/a?authSource=admin', '/?replicaSet=')).map((p) => p.join(''));
    await fc.assert(fc.asyncProperty(local, mongo, fc.constantFrom(cwd, join(cwd, 'missing'), '/proc/1/root-nope'), async (pgUrl, mongoUrl, uploads) => {
      const env = { DATABASE_URL: pgUrl, MONGODB_URL: mongoUrl, UPLOADS_DIR: uploads, FERRY_POSTGRES_CONNECT_TIMEOUT_SECONDS: '2', FERRY_MONGODB_SERVER_SELECTION_TIMEOUT_SECONDS: '1' };
      const loaded = await loadConfig({ cwd, env }).catch((error: unknown) => expectDocumented(error, pgUrl));
      if (loaded === undefined) return;
      for (const store of storesFromConfig(loaded.config)) {
        const ctx = { signal: new AbortController().signal, log: silentLogger, progress: silentProgress, redactor: loaded.redactor, tempDir: cwd };
        await store.preflight(ctx).catch((error: unknown) => expectDocumented(error, `${store.kind} preflight of ${pgUrl} / ${mongoUrl}`));
      }
    }), { seed, numRuns: 25 });
  });
});
