import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ferry } from '../support/cli.js';
import { backedUpDatabase } from '../support/backed-up.js';
import { createDatabase, pgServer, query, tableDigests, uniqueName } from '../support/pg.js';
import { tempDir } from '../support/tmp.js';
import { fakeDocker } from '../support/docker.js';


describe('the scripts\' .env.production through --env-file', () => {
  it('backs up PostgreSQL through POSTGRES_CONTAINER with the scripts\' names, never printing a value of the file', async () => {
    const work = await tempDir();
    const db = await createDatabase(uniqueName('envfile'));
    await query(db, "CREATE TABLE recipes (id int PRIMARY KEY, title text); INSERT INTO recipes SELECT i, 'r' || i FROM generate_series(1, 50) i;");
    const { user, password } = pgServer();
    const backups = join(work, 'backups');
    const envFile = join(work, '.env.production');
    writeFileSync(envFile, [
      '# as the Le Grimoire server has it',
      `BACKUP_DIR=${backups}`,
      'POSTGRES_CONTAINER=le-grimoire-db-prod',
      `POSTGRES_USER=${user}`,
      `POSTGRES_PASSWORD="${password}"`,
      `POSTGRES_DB=${db}`,
      'SECRET_KEY=app-secret-never-shown',
      '',
    ].join('\n'));
    // Ferry's own queries (sizes, counts) go through the container too: no port is published.
    const docker = fakeDocker(work, { 'le-grimoire-db-prod': { env: { PGHOST: '127.0.0.1', PGPORT: String(pgServer().port) } } });
    const log = join(work, 'docker.log');
    const env = docker.env;
    const made = await ferry(['--env-file', envFile, '--verbose', 'backup'], env);
    expect(made.code, made.stderr).toBe(0);
    expect(made.stderr).toMatch(/pg_dump 15\.\d+ from docker container le-grimoire-db-prod/);
    const calls = readFileSync(log, 'utf8');
    expect(calls).toMatch(new RegExp(`le-grimoire-db-prod pg_dump --format=custom .*--dbname=postgresql://${user}@/${db}$`, 'm'));
    for (const text of [made.stdout, made.stderr, calls]) {
      expect(text).not.toContain(password);
      expect(text).not.toContain('app-secret-never-shown');
    }
    expect(readdirSync(backups).filter((n) => /^backup_\d{8}_\d{6}\.tar\.gz$/.test(n))).toHaveLength(1);

    const target = uniqueName('envfile_dst');
    const restored = await ferry(['--env-file', envFile, 'restore', 'latest', '--yes', '--jobs', '1', '--to-db', target], env);
    expect(restored.code, restored.stderr).toBe(0);
    expect(await tableDigests(target)).toEqual(await tableDigests(db));
  });

  it('a missing env file stops before anything runs, naming it', async () => {
    // Node itself reads --env-file wherever it appears (nodejs/node#54232) and exits 9 on a missing
    // file before Ferry starts; where it does not, Ferry's own check exits 3.
    const result = await ferry(['--env-file', '/nonexistent/.env', 'list'], {});
    expect([3, 9]).toContain(result.code);
    expect(result.stderr).toMatch(/\/nonexistent\/\.env/);
  });
});

describe('ferry health with check-backup-health.sh\'s MAX_AGE_HOURS and MIN_SIZE_KB', () => {
  it('uses them when the options are not given; the options win', async () => {
    const { env, work } = await backedUpDatabase('hscript', "CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 10);");
    const ok = await ferry(['health'], env);
    expect(ok.code, ok.stdout).toBe(0);
    const envFile = join(work, '.env');
    writeFileSync(envFile, 'MIN_SIZE_KB=100000\n');
    const small = await ferry(['--env-file', envFile, 'health'], env);
    expect(small.code).toBe(1);
    expect(small.stdout).toMatch(/\[WARNING\]\s+size: newest backup is .*, under 102 MB/);
    expect((await ferry(['--env-file', envFile, 'health', '--min-size', '1'], env)).code).toBe(0);
    const old = await ferry(['health'], { ...env, MAX_AGE_HOURS: '0' });
    expect(old.code).toBe(1);
    expect(old.stdout).toMatch(/\[WARNING\]\s+age: last backup .* ago, over 0 h/);
    expect((await ferry(['health', '--max-age', '26'], { ...env, MAX_AGE_HOURS: '0' })).code).toBe(0);
    const bad = await ferry(['health'], { ...env, MAX_AGE_HOURS: 'a day' });
    expect(bad.code).toBe(3);
    expect(bad.stdout).toMatch(/^FERRY UNKNOWN - environment variable MAX_AGE_HOURS: expected a number of hours$/m);
  });
});
