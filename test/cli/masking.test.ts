import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { BSON } from 'bson';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ferry } from '../support/cli.js';
import { startMongoTarget, type MongoTarget } from '../support/mongo-target.js';
import { createDatabase, pgUrl, query, tableDigests, uniqueName } from '../support/pg.js';
import { tempDir } from '../support/tmp.js';

const KEY = 'mask-key-for-tests-0123456789';
const USERS = 40;

let mongo: MongoTarget;

beforeAll(async () => {
  mongo = await startMongoTarget();
});

afterAll(async () => {
  await mongo.stop();
});

interface User { id: number; email: string; name: string; phone: string; street: string }

const users: User[] = Array.from({ length: USERS }, (_, i) => ({
  id: i + 1,
  email: `Chef.${i + 1}@Grimoire-Prod.fr`,
  name: `Odette Lavande-${i + 1}`,
  phone: `+33 6 12 34 ${String(10 + i).padStart(2, '0')} 99`,
  street: `${i + 1} rue des Secrets Réels`,
}));
const ORIGINALS = users.flatMap((u) => [u.email, u.email.toLowerCase(), u.name, u.phone, u.street]);

const RULES = `
mask:
  postgres:
    users:
      email: email
      full_name: name
      phone: phone
      notes: "redacted-{hash:6}"
  mongodb:
    users:
      email: email
      name: name
      phone: phone
      addresses.street: address
    recipes:
      author_email: email
`;

/** Production: users referenced from recipes in PostgreSQL, the same users and their recipes in MongoDB. */
async function production() {
  const work = await tempDir();
  const db = await createDatabase(uniqueName('maskprod'));
  await query(db, `
    CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL UNIQUE, full_name text, phone text, notes text);
    CREATE TABLE recipes (id int PRIMARY KEY, user_id int NOT NULL REFERENCES users(id), title text NOT NULL, instructions text);`);
  for (const u of users) {
    await query(db, 'INSERT INTO users VALUES ($1, $2, $3, $4, $5)', [u.id, u.email, u.name, u.phone, u.id % 3 === 0 ? null : `allergique\taux noix\n${u.name}`]);
  }
  await query(db, `INSERT INTO recipes SELECT g, 1 + g % ${USERS}, 'Tarte ' || g, E'Melanger\\tcuire\\n' || g FROM generate_series(1, 300) g`);
  const mongoDb = mongo.database('maskprod');
  const client = await mongo.client();
  await client.db(mongoDb).collection('users').insertMany(users.map((u) => ({ _id: u.id, email: u.email, name: u.name, phone: u.phone, addresses: [{ street: u.street, city: 'Lyon' }, { street: `${u.street} bis`, city: 'Paris' }] })) as never[]);
  await client.db(mongoDb).collection('recipes').insertMany(Array.from({ length: 100 }, (_, i) => ({ _id: i + 1, title: `Gratin ${i}`, author_email: users[i % USERS]!.email })) as never[]);
  await client.db(mongoDb).collection('categories').insertMany([{ _id: 1, name: 'Desserts' }] as never[]);
  const backups = join(work, 'backups');
  const mongoEnv = {
    MONGODB_URL: mongo.url,
    ...(mongo.user === undefined ? {} : { MONGODB_USER: mongo.user }),
    ...(mongo.password === undefined ? {} : { MONGODB_PASSWORD: mongo.password }),
  };
  const made = await ferry(['backup'], { DATABASE_URL: pgUrl(db), ...mongoEnv, MONGODB_DB_NAME: mongoDb, BACKUP_DIRECTORY: backups });
  expect(made.code, made.stderr).toBe(0);
  const config = join(work, 'ferry.config.yaml');
  writeFileSync(config, RULES);
  const restoreInto = async (suffix: string, extra: Record<string, string> = {}, args: string[] = []) => {
    const pgTarget = uniqueName(`maskdev_${suffix}`);
    const mongoTarget = mongo.database(`maskdev_${suffix}`);
    const result = await ferry(['--config', config, 'restore', 'latest', '--yes', ...args], { DATABASE_URL: pgUrl(pgTarget), ...mongoEnv, MONGODB_DB_NAME: mongoTarget, BACKUP_DIRECTORY: backups, FERRY_MASK_KEY: KEY, ...extra });
    return { result, pgTarget, mongoTarget };
  };
  return { work, db, mongoDb, backups, config, restoreInto };
}

async function everyPgText(database: string): Promise<string> {
  const tables = await query<{ name: string }>(database, `SELECT format('%I.%I', schemaname, relname) AS name FROM pg_stat_user_tables`);
  let all = '';
  for (const { name } of tables) all += (await query<{ row: string }>(database, `SELECT t::text AS row FROM ${name} t`)).map((r) => r.row).join('\n');
  return all;
}

async function everyMongoText(database: string): Promise<string> {
  const client = await mongo.client();
  let all = '';
  for (const { name } of await client.db(database).listCollections().toArray()) {
    for (const doc of await client.db(database).collection(name).find().toArray()) all += BSON.EJSON.stringify(doc) + '\n';
  }
  return all;
}

describe('masking on the way into development', () => {
  let setup: Awaited<ReturnType<typeof production>>;
  beforeAll(async () => {
    setup = await production();
  });

  it('no original value survives anywhere; keys, uniqueness and cross-store references hold; the rest is untouched', async () => {
    const { result, pgTarget, mongoTarget } = await setup.restoreInto('a');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/postgres\s+public\.users\s+40\s+147/);
    expect(result.stdout).toMatch(/mongo\s+users\s+40\s+200/);

    const pgText = await everyPgText(pgTarget);
    const mongoText = await everyMongoText(mongoTarget);
    for (const original of ORIGINALS) {
      expect(pgText.includes(original), original).toBe(false);
      expect(mongoText.includes(original), original).toBe(false);
    }
    expect(pgText).not.toContain('allergique');

    const masked = await query<{ id: number; email: string; full_name: string; phone: string; notes: string | null }>(pgTarget, 'SELECT id, email, full_name, phone, notes FROM users ORDER BY id');
    expect(new Set(masked.map((u) => u.email)).size).toBe(USERS);
    expect(masked[0]!.email).toMatch(/^[a-z]+\.[a-z]+\.[0-9a-f]{16}@example\.invalid$/);
    expect(masked[0]!.phone).toMatch(/^\+\d\d \d \d\d \d\d \d\d \d\d$/);
    expect(masked[2]!.notes).toBeNull();
    expect(masked[0]!.notes).toMatch(/^redacted-[0-9a-f]{6}$/);
    // The unmasked table is exactly the source, and its foreign keys still point at users.
    expect((await tableDigests(pgTarget))['public.recipes']).toEqual((await tableDigests(setup.db))['public.recipes']);
    expect(await query(pgTarget, 'SELECT count(*)::int AS n FROM recipes r JOIN users u ON u.id = r.user_id')).toEqual([{ n: 300 }]);

    const client = await mongo.client();
    const mongoUsers = await client.db(mongoTarget).collection<{ _id: number; email: string; addresses: Array<{ street: string; city: string }> }>('users').find().toArray();
    mongoUsers.sort((a, b) => a._id - b._id);
    for (const u of mongoUsers) expect(u.email).toBe(masked.find((m) => m.id === u._id)?.email);
    expect(mongoUsers[0]!.addresses.map((a) => a.city)).toEqual(['Lyon', 'Paris']);
    expect(mongoUsers[0]!.addresses[0]!.street).not.toBe(mongoUsers[0]!.addresses[1]!.street);
    const recipes = await client.db(mongoTarget).collection<{ _id: number; author_email: string }>('recipes').find().toArray();
    recipes.sort((a, b) => a._id - b._id);
    expect(recipes[0]!.author_email).toBe(masked[0]!.email);
    expect(await client.db(mongoTarget).collection('categories').find().toArray()).toEqual([{ _id: 1, name: 'Desserts' }]);
  });

  it('is deterministic per key: the same key gives the same data, another key other data', async () => {
    const first = await setup.restoreInto('b');
    const second = await setup.restoreInto('c');
    const other = await setup.restoreInto('d', { FERRY_MASK_KEY: 'another-key-entirely-9876543210' });
    for (const run of [first, second, other]) expect(run.result.code, run.result.stderr).toBe(0);
    expect(await tableDigests(second.pgTarget)).toEqual(await tableDigests(first.pgTarget));
    expect(await everyMongoText(second.mongoTarget)).toBe(await everyMongoText(first.mongoTarget));
    expect((await tableDigests(other.pgTarget))['public.users']).not.toEqual((await tableDigests(first.pgTarget))['public.users']);
  });

  it('a rule naming a missing column, collection or field fails before anything is restored', async () => {
    const { config, restoreInto } = setup;
    const cases: Array<[string, RegExp]> = [
      ['mask:\n  postgres:\n    users:\n      e_mail: email\n', /mask rule public\.users\.e_mail: table public\.users has no column e_mail/],
      ['mask:\n  postgres:\n    customers:\n      email: email\n', /mask rule for table public\.customers: the dump has no such table/],
      ['mask:\n  mongodb:\n    members:\n      email: email\n', /mask rule for collection members: the archive has no such collection/],
      ['mask:\n  mongodb:\n    users:\n      profile.mail: email\n', /mask rule users\.profile\.mail: no document of users has that field/],
    ];
    for (const [rules, message] of cases) {
      writeFileSync(config, rules);
      const { result, pgTarget } = await restoreInto('bad');
      expect(result.code, result.stderr).toBe(3);
      expect(result.stderr).toMatch(message);
      expect(await query(pgTarget, 'SELECT 1').catch(() => 'absent')).toBe('absent');
    }
    writeFileSync(config, 'mask:\n  postgres:\n    users:\n      email: scramble\n');
    const badTransformer = await restoreInto('bad');
    expect(badTransformer.result.code).toBe(3);
    expect(badTransformer.result.stderr).toMatch(/mask\.postgres\.users\.email: unknown transformer "scramble"/);
    writeFileSync(config, RULES);
  });

  it('ferry mask writes an archive without the raw data that restores to what a masked restore gives', async () => {
    const shared = join(setup.work, 'shared', 'grimoire-masked.tar.gz');
    mkdirSync(dirname(shared), { recursive: true });
    const env = { BACKUP_DIRECTORY: setup.backups, FERRY_MASK_KEY: KEY };
    const made = await ferry(['--config', setup.config, 'mask', 'latest', '-o', shared], env);
    expect(made.code, made.stderr).toBe(0);
    expect(made.stdout).toMatch(/postgres\s+public\.users\s+40\s+147/);
    const raw = gunzipSync(readFileSync(shared)).toString('latin1');
    for (const original of ORIGINALS) expect(raw.includes(Buffer.from(original).toString('latin1')), original).toBe(false);
    expect(raw).not.toContain(KEY);
    expect(raw).not.toContain('PGDMP');
    const manifest = JSON.parse(readFileSync(`${shared}.manifest.json`, 'utf8')) as { masked: { ruleSetSha256: string; rules: { postgres: unknown } }; entries: Array<{ path: string }> };
    expect(manifest.masked.ruleSetSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(manifest.masked.rules.postgres).toHaveProperty('users');
    expect(manifest.entries.map((e) => e.path)).not.toContain('postgresql/database.backup');
    expect((await ferry(['--config', setup.config, 'mask', 'latest', '-o', shared], env)).code).toBe(4);

    const direct = await setup.restoreInto('direct');
    expect(direct.result.code, direct.result.stderr).toBe(0);
    // A developer without the rules or the key restores the shared archive as it is.
    const target = uniqueName('maskdev_file');
    const mongoTarget = mongo.database('maskdev_file');
    const restored = await ferry(['restore', shared, '--yes'], {
      DATABASE_URL: pgUrl(target), BACKUP_DIRECTORY: join(setup.work, 'shared'), MONGODB_URL: mongo.url, MONGODB_DB_NAME: mongoTarget,
      ...(mongo.user === undefined ? {} : { MONGODB_USER: mongo.user, MONGODB_PASSWORD: mongo.password ?? '' }),
    });
    expect(restored.code, restored.stderr).toBe(0);
    expect(await tableDigests(target)).toEqual(await tableDigests(direct.pgTarget));
    expect(await everyMongoText(mongoTarget)).toBe(await everyMongoText(direct.mongoTarget));
  });

  it('needs FERRY_MASK_KEY, and restores real data only with an explicit --no-mask', async () => {
    const noKey = await setup.restoreInto('nokey', { FERRY_MASK_KEY: '' });
    expect(noKey.result.code).toBe(3);
    expect(noKey.result.stderr).toMatch(/^ferry: masking rules are configured but FERRY_MASK_KEY is not set$/m);
    const raw = await setup.restoreInto('raw', { FERRY_MASK_KEY: '' }, ['--no-mask']);
    expect(raw.result.code, raw.result.stderr).toBe(0);
    expect(raw.result.stderr).toMatch(/--no-mask: restoring the data as it is/);
    expect(await tableDigests(raw.pgTarget)).toEqual(await tableDigests(setup.db));
    // The key is nowhere: not in the backup directory's files, nor in what the restores printed.
    for (const file of readdirSync(setup.backups)) {
      const bytes = readFileSync(join(setup.backups, file));
      const text = file.endsWith('.tar.gz') ? gunzipSync(bytes).toString('latin1') : bytes.toString('latin1');
      expect(text, file).not.toContain(KEY);
    }
    expect(raw.result.stdout + raw.result.stderr + noKey.result.stderr).not.toContain(KEY);
  });
});

