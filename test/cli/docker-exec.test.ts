import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ferry } from '../support/cli.js';
import { createDatabase, pgServer, pgUrl, query, tableDigests, uniqueName } from '../support/pg.js';
import { tempDir } from '../support/tmp.js';
import { fakeDocker } from '../support/docker.js';


describe('PostgreSQL tools run inside the database container (postgres.exec)', () => {
  it('round-trips a database through docker exec, streaming the dump, with the password never in argv', async () => {
    const work = await tempDir();
    const source = await createDatabase(uniqueName('exec_src'));
    await query(source, "CREATE TABLE recipes (id int PRIMARY KEY, title text); INSERT INTO recipes SELECT i, 'r' || i FROM generate_series(1, 300) i;");
    const log = join(work, 'docker.log');
    const docker = fakeDocker(work, { 'le-grimoire-postgres-1': { env: { PGHOST: '127.0.0.1', PGPORT: String(pgServer().port) } } });
    const env = {
      ...docker.env,
      FERRY_POSTGRES_EXEC: 'docker://le-grimoire-postgres-1',
      BACKUP_DIRECTORY: join(work, 'backups'),
    };
    const made = await ferry(['backup'], { ...env, DATABASE_URL: pgUrl(source) });
    expect(made.code, made.stderr).toBe(0);
    expect(made.stderr).toMatch(/pg_dump 15\.\d+ from docker container le-grimoire-postgres-1/);
    const target = uniqueName('exec_dst');
    const restored = await ferry(['restore', 'latest', '--yes', '--jobs', '1'], { ...env, DATABASE_URL: pgUrl(target) });
    expect(restored.code, restored.stderr).toBe(0);
    expect(await tableDigests(target)).toEqual(await tableDigests(source));
    // --jobs needs a seekable file: the dump is copied into the container first.
    const parallelTarget = uniqueName('exec_jobs');
    const parallel = await ferry(['restore', 'latest', '--yes', '--jobs', '2'], { ...env, DATABASE_URL: pgUrl(parallelTarget) });
    expect(parallel.code, parallel.stderr).toBe(0);
    expect(await tableDigests(parallelTarget)).toEqual(await tableDigests(source));

    const calls = readFileSync(log, 'utf8').trim().split('\n');
    // stdin crosses (-i) only into the tools that read it.
    expect(calls).toContain('exec -e PGPASSWORD -e PGCONNECT_TIMEOUT -e PGOPTIONS le-grimoire-postgres-1 pg_dump --version');
    expect(calls.some((c) => /^exec -e PGPASSWORD -e PGCONNECT_TIMEOUT -e PGOPTIONS le-grimoire-postgres-1 pg_dump --format=custom --compress=1 --no-password --verbose --dbname=postgresql:\/\/postgres@\/exec_src_[0-9a-f]+$/.test(c))).toBe(true);
    // A single-job restore streams the dump through stdin into pg_restore, into the database built beside the target.
    expect(calls.some((c) => /^exec -i -e PGPASSWORD -e PGCONNECT_TIMEOUT -e PGOPTIONS le-grimoire-postgres-1 pg_restore --no-owner --no-privileges --no-password --exit-on-error --dbname=postgresql:\/\/postgres@\/exec_dst_[0-9a-f]+__ferry_new$/.test(c))).toBe(true);
    expect(calls.some((c) => /le-grimoire-postgres-1 sh -c cat > "\$1" sh \/tmp\/ferry-[0-9a-f]+\.backup$/.test(c))).toBe(true);
    // The whole dump, staged within 2 s, or its indexes and constraints when it took longer (refresh.ts).
    expect(calls.some((c) => /le-grimoire-postgres-1 pg_restore --no-owner --no-privileges --no-password --exit-on-error (--section=post-data )?--jobs=2 --dbname=postgresql:\/\/postgres@\/exec_jobs_[0-9a-f]+__ferry_new \/tmp\/ferry-/.test(c))).toBe(true);
    expect(calls.some((c) => /le-grimoire-postgres-1 rm -f \/tmp\/ferry-/.test(c))).toBe(true);
    expect(readFileSync(log, 'utf8')).not.toContain(pgServer().password);
  });

  it('a container that does not run is one clear error', async () => {
    const work = await tempDir();
    const db = await createDatabase(uniqueName('exec_missing'));
    const result = await ferry(['backup'], {
      ...fakeDocker(work, { 'something-else': { service: 'postgres-other' } }).env,
      FERRY_POSTGRES_EXEC: 'compose://postgres',
      DATABASE_URL: pgUrl(db),
      BACKUP_DIRECTORY: join(work, 'b'),
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^ferry: cannot reach port 5432 in docker compose service postgres: service "postgres" is not running$/m);
  });
});
