import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, stat, truncate, utimes, writeFile } from 'node:fs/promises';
import { readdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { archiveNameFor, timeOfArchiveName } from '../../src/archive/naming.js';
import { loadConfig } from '../../src/config/index.js';
import { backup } from '../../src/ops/backup.js';
import { silentLogger, silentProgress } from '../../src/ops/context.js';
import { ferry } from '../support/cli.js';
import { createDatabase, pgUrl, query, tableDigests, uniqueName } from '../support/pg.js';
import { snapshotTree } from '../support/tree.js';
import { s3ServerForTests } from '../support/s3/per-file.js';
import { tempDir } from '../support/tmp.js';

const SCHEMA_DIR = fileURLToPath(new URL('../../docs/json/', import.meta.url));
const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true, validateFormats: false });
for (const file of readdirSync(SCHEMA_DIR).filter((f) => f.endsWith('.schema.json'))) ajv.addSchema(JSON.parse(readFileSync(join(SCHEMA_DIR, file), 'utf8')) as object);

function document(stdout: string, schema: string): Record<string, unknown> {
  const parsed = JSON.parse(stdout) as Record<string, unknown>;
  const validate = ajv.getSchema(`${schema}.schema.json`)!;
  expect(validate(parsed), JSON.stringify(validate.errors)).toBe(true);
  return parsed;
}

/** Five backups an hour apart with uploads.full_every 3: full, delta, delta, full, delta. */
async function chainOfFive(work: string) {
  const source = join(work, 'uploads');
  const backups = join(work, 'backups');
  const env = { UPLOADS_DIR: source, BACKUP_DIRECTORY: backups, FERRY_UPLOADS_INCREMENTAL: 'yes', FERRY_UPLOADS_FULL_EVERY: '3' };
  await mkdir(source);
  await writeFile(join(source, 'big.bin'), Buffer.alloc(200_000, 1));
  const names: string[] = [];
  for (let i = 0; i < 5; i++) {
    await writeFile(join(source, `day-${i}.txt`), `day ${i}`);
    const when = new Date(Date.now() - (5 - i) * 3600_000);
    await utimes(join(source, `day-${i}.txt`), when, when);
    const loaded = await loadConfig({ env, cwd: work });
    const made = await backup({ config: loaded.config, redactor: loaded.redactor, signal: new AbortController().signal, log: silentLogger, progress: silentProgress, now: () => when }, { noPrune: true });
    names.push(basename(made.archive));
  }
  return { source, backups, env, names };
}

describe('chains of incremental uploads in list, inspect, prune, verify, health and restore', () => {
  it('shows full and delta, keeps the bases a kept delta needs, and calls a chain with a missing base CRITICAL', async () => {
    const work = await tempDir();
    const { backups, env, names } = await chainOfFive(work);
    const [full, delta1, delta2, full2, delta3] = names as [string, string, string, string, string];

    const inspected = await ferry(['inspect', delta2, '--json'], env);
    expect(inspected.code, inspected.stderr).toBe(0);
    const uploads = (document(inspected.stdout, 'inspect').stores as Array<{ kind: string; chain: unknown }>).find((s) => s.kind === 'uploads');
    expect(uploads?.chain).toMatchObject({ kind: 'delta', position: 2, base: { name: delta1 } });
    expect((await ferry(['inspect', delta2], env)).stdout).toContain(`delta 2 on ${delta1}`);
    const listed = await ferry(['list'], env);
    expect(listed.stdout).toContain(`uploads(delta on ${full2})`);
    expect(listed.stdout).toMatch(new RegExp(`${full2}.*\\buploads\\b(?!\\()`));

    const narrow = await ferry(['prune', '--dry-run', '--keep-days', '0', '--keep-last', '1', '--json'], env);
    const plan = document(narrow.stdout, 'prune') as { keep: Array<{ name: string; reasons: string[] }>; remove: Array<{ name: string }> };
    expect(plan.keep.map((k) => k.name)).toEqual([delta3, full2]);
    expect(plan.keep[1]?.reasons).toEqual([`base of ${delta3}, which is kept (a delta is restored on top of it)`]);
    expect(plan.remove.map((r) => r.name)).toEqual([delta2, delta1, full]);
    const pruned = await ferry(['prune', '--keep-days', '0', '--keep-last', '3'], env);
    expect(pruned.code, pruned.stderr).toBe(0);
    expect(pruned.stdout).toMatch(new RegExp(`${delta1}\\s+keep\\s+base of ${delta2}`));
    expect(pruned.stdout).toMatch(new RegExp(`${full}\\s+keep\\s+base of ${delta1}`));
    expect(readdirSync(backups).filter((n) => n.startsWith('backup_2') && n.endsWith('.tar.gz')).sort()).toEqual([...names].sort());

    // What a consolidate SIGKILLed while writing leaves: its .partial under the name the next one picks, and its lock.
    const killedPartial = join(backups, `${archiveNameFor(new Date(timeOfArchiveName(delta2)!.getTime() + 1000))}.partial`);
    await writeFile(killedPartial, Buffer.alloc(1000, 7));
    await writeFile(join(backups, '.ferry.lock'), JSON.stringify({ pid: 999_999_999, host: hostname(), purpose: 'consolidate', since: new Date().toISOString() }));
    const consolidated = await ferry(['consolidate', delta2, '--json'], env);
    expect(consolidated.code, consolidated.stderr).toBe(0);
    expect(consolidated.stderr).toContain(`removed what an interrupted run left`);
    expect(readdirSync(backups).filter((n) => n.endsWith('.partial'))).toEqual([]);
    const synthetic = document(consolidated.stdout, 'consolidate') as { archive: string; chain: string[] };
    expect(synthetic.chain).toEqual([full, delta1, delta2]);
    const syntheticName = basename(synthetic.archive);
    expect((await ferry(['inspect', syntheticName], env)).stdout).toContain('full: starts a chain');

    expect((await ferry(['verify', delta3], env)).code).toBe(0);
    // The base cut short where it lies (a copy that did not finish): the delta is unrestorable too.
    const baseBytes = (await stat(join(backups, full2))).size;
    await truncate(join(backups, full2), Math.floor(baseBytes / 2));
    const cut = await ferry(['verify', delta3], env);
    expect(cut.code, cut.stdout + cut.stderr).toBe(2);
    expect(cut.stdout + cut.stderr).toContain(`archive ${full2}, a link of the chain of ${delta3}, no longer matches its .sha256 sidecar`);
    // The base deleted by hand, its sidecars left behind.
    await rm(join(backups, full2));
    const verified = await ferry(['verify', delta3], env);
    expect(verified.code).toBe(2);
    expect(verified.stdout + verified.stderr).toContain(`archive ${full2}, the base of ${delta3}, is missing`);
    const health = await ferry(['health'], env);
    expect(health.code).toBe(2);
    expect(health.stdout).toContain(`${full2} is missing: ${delta3} is a delta built on it and cannot be restored`);
    // An older chain is whole: its delta still verifies.
    expect((await ferry(['verify', delta2], env)).code).toBe(0);

    const target = join(work, 'dev-uploads');
    await mkdir(target);
    await writeFile(join(target, 'mine.txt'), 'untouched');
    const before = await snapshotTree(target);
    const restored = await ferry(['restore', delta3, '--yes'], { ...env, UPLOADS_DIR: target });
    expect(restored.code).toBe(2);
    expect(restored.stderr).toContain(`archive ${full2}, the base of ${delta3}, is missing`);
    expect(await snapshotTree(target)).toEqual(before);
    expect(await readFile(join(target, 'mine.txt'), 'utf8')).toBe('untouched');

    // The next backup cannot build on the broken chain: it says so and starts a new one.
    const next = await ferry(['backup'], env);
    expect(next.code, next.stderr).toBe(0);
    expect(next.stdout + next.stderr).toContain(`uploads.incremental: the chain of the newest backup is broken (archive ${full2}, the base of ${delta3}, is missing`);
    const made = readdirSync(backups).filter((n) => /^backup_\d{8}_\d{6}\.tar\.gz$/.test(n) && !names.includes(n) && n !== syntheticName);
    expect(made).toHaveLength(1);
    expect((await ferry(['inspect', made[0] as string], env)).stdout).toContain('full: starts a chain');
  });
});

describe('chains on the remote', () => {
  const server = s3ServerForTests();

  it('push of a delta sends its chain first, pull fetches it back and it restores; remote retention keeps the bases', async () => {
    const work = await tempDir();
    const { env, names } = await chainOfFive(work);
    const [full, delta1, delta2, full2, delta3] = names as [string, string, string, string, string];
    const remote = {
      FERRY_STORAGE_REMOTE: 's3://ferry/chains', FERRY_STORAGE_ENDPOINT: server.endpoint, FERRY_STORAGE_FORCE_PATH_STYLE: 'true',
      AWS_CONFIG_FILE: '/nonexistent', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent', AWS_ACCESS_KEY_ID: 'ferrytest', AWS_SECRET_ACCESS_KEY: 'ferrytest-secret',
    };
    const one = await ferry(['push', delta2, '--json'], { ...env, ...remote });
    expect((document(one.stdout, 'push').uploaded as Array<{ name: string }>).map((u) => u.name)).toEqual([full, delta1, delta2]);
    const pushed = await ferry(['push'], { ...env, ...remote });
    expect(pushed.code, pushed.stderr).toBe(0);

    const prune = await ferry(['prune', '--remote', '--dry-run', '--keep-days', '0', '--keep-last', '1', '--json'], { ...env, ...remote });
    const plan = document(prune.stdout, 'prune') as { keep: Array<{ name: string; reasons: string[] }> };
    expect(plan.keep.map((k) => [k.name, k.reasons[0]])).toEqual([[delta3, 'newest backup'], [full2, `base of ${delta3}, which is kept (a delta is restored on top of it)`]]);

    const laptop = join(work, 'laptop');
    const pulled = await ferry(['pull', delta2, '--json'], { BACKUP_DIRECTORY: laptop, ...remote });
    expect(pulled.code, pulled.stderr).toBe(0);
    expect((document(pulled.stdout, 'pull').chain as Array<{ name: string }>).map((l) => l.name)).toEqual([delta1, full]);
    const target = join(work, 'dev-uploads');
    const restored = await ferry(['restore', delta2, '--yes'], { BACKUP_DIRECTORY: laptop, UPLOADS_DIR: target });
    expect(restored.code, restored.stderr).toBe(0);
    expect(readdirSync(target).sort()).toEqual(['big.bin', 'day-0.txt', 'day-1.txt', 'day-2.txt']);
  });
});

describe('consolidating a chain that holds a PostgreSQL dump', () => {
  it('the synthetic full records where its dump begins, and a restore of it reads the dump from there', async () => {
    const work = await tempDir();
    const db = await createDatabase(uniqueName('chain_pg'));
    await query(db, 'CREATE TABLE notes (id int PRIMARY KEY, body text); INSERT INTO notes SELECT i, md5(i::text) FROM generate_series(1, 5000) i;');
    const source = join(work, 'uploads');
    await mkdir(source);
    for (let i = 0; i < 40; i++) await writeFile(join(source, `photo-${i}.jpg`), randomBytes(1024 * 1024));
    const backups = join(work, 'backups');
    const env = { DATABASE_URL: pgUrl(db), UPLOADS_DIR: source, BACKUP_DIRECTORY: backups, FERRY_UPLOADS_INCREMENTAL: 'yes' };
    const names: string[] = [];
    for (let i = 0; i < 2; i++) {
      await writeFile(join(source, `day-${i}.txt`), `day ${i}`);
      const loaded = await loadConfig({ env, cwd: work });
      const made = await backup({ config: loaded.config, redactor: loaded.redactor, signal: new AbortController().signal, log: silentLogger, progress: silentProgress, now: () => new Date(Date.now() - (2 - i) * 3600_000) }, { noPrune: true });
      names.push(basename(made.archive));
    }
    const consolidated = await ferry(['consolidate', names[1] as string, '--json'], env);
    expect(consolidated.code, consolidated.stderr).toBe(0);
    const synthetic = basename((JSON.parse(consolidated.stdout) as { archive: string }).archive);
    const manifest = JSON.parse(await readFile(join(backups, `${synthetic}.manifest.json`), 'utf8')) as { entries: Array<{ path: string; seek?: unknown }> };
    expect(manifest.entries.find((entry) => entry.path === 'postgresql/database.backup')?.seek).toMatchObject({ offset: expect.any(Number), skip: expect.any(Number) });

    const target = uniqueName('chain_dev');
    const restored = await ferry(['restore', synthetic, '--yes', '-v'], { DATABASE_URL: pgUrl(target), UPLOADS_DIR: join(work, 'dev-uploads'), BACKUP_DIRECTORY: backups });
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stdout + restored.stderr).toContain('postgresql/database.backup read ahead of the archive\'s pass, from its seek point, checked');
    expect(await tableDigests(target)).toEqual(await tableDigests(db));
  });
});
