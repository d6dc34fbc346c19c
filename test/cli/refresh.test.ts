import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ferry, startFerry } from '../support/cli.js';
import { backedUpDatabase } from '../support/backed-up.js';
import { loadPagila } from '../support/fixtures.js';
import { tempDir } from '../support/tmp.js';
import { replaceEntry } from '../support/archive-edit.js';
import { createDatabase, databaseExists, pgServer, pgUrl, query, sequenceValues, tableDigests, uniqueName } from '../support/pg.js';

/** Constraints, triggers and indexes per kind: what a restore that "succeeds" half-way loses first. */
async function objectCounts(database: string): Promise<Record<string, number>> {
  const [row] = await query<{ constraints: string; triggers: string; indexes: string; sequences: string }>(database, `
    SELECT (SELECT count(*) FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = 'public')::text AS constraints,
           (SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT t.tgisinternal AND n.nspname = 'public')::text AS triggers,
           (SELECT count(*) FROM pg_indexes WHERE schemaname = 'public')::text AS indexes,
           (SELECT count(*) FROM pg_sequences WHERE schemaname = 'public')::text AS sequences`);
  return Object.fromEntries(Object.entries(row ?? {}).map(([k, v]) => [k, Number(v)]));
}

/** Each foreign key as the server describes it, and whether it was checked (a key left NOT VALID was not). */
async function foreignKeys(database: string) {
  return query<Record<string, string | boolean>>(database, `
    SELECT conrelid::regclass::text AS "table", conname, convalidated, pg_get_constraintdef(oid) AS definition
      FROM pg_constraint WHERE contype = 'f' ORDER BY 1, 2`);
}

async function state(database: string) {
  return { tables: await tableDigests(database), sequences: await sequenceValues(database), objects: await objectCounts(database), keys: await foreignKeys(database) };
}

let pagila: Awaited<ReturnType<typeof backedUpDatabase>> | undefined;
async function pagilaBackup() {
  if (pagila === undefined) {
    const db = await createDatabase(uniqueName('pagila_src'));
    await loadPagila(db);
    pagila = await backedUpDatabase('pagila', '', db);
  }
  return pagila;
}

/** A developer database that already holds Pagila, changed the way a developer changes it. */
async function populatedTarget(prefix: string): Promise<string> {
  const { dir } = await pagilaBackup();
  const target = uniqueName(prefix);
  const first = await ferry(['restore', 'latest', '--yes'], { DATABASE_URL: pgUrl(target), BACKUP_DIRECTORY: dir });
  expect(first.code, first.stderr).toBe(0);
  await query(target, `DELETE FROM payment WHERE amount < 2; UPDATE actor SET first_name = 'LOCAL' WHERE actor_id < 10;
    CREATE TABLE dev_notes (n text); INSERT INTO dev_notes VALUES ('mine'); CREATE VIEW actor_names AS SELECT first_name FROM actor;`);
  return target;
}

/** A database owned by a new role without CREATEDB: restores into it take the in-place strategy. */
async function ownedByRoleWithoutCreatedb(prefix: string): Promise<{ role: string; target: string; url: string }> {
  const role = uniqueName('dev_role');
  const target = uniqueName(prefix);
  await query('postgres', `CREATE ROLE ${role} LOGIN PASSWORD 'dev-role-pw' NOCREATEDB`);
  await query('postgres', `CREATE DATABASE ${target} OWNER ${role}`);
  return { role, target, url: pgUrl(target, { user: role, password: 'dev-role-pw' }) };
}

function psqlSession(database: string, application: string) {
  const server = pgServer();
  const child = spawn('psql', ['-X', '-h', '127.0.0.1', '-p', String(server.port), '-U', server.user, '-d', database, '-c', 'SELECT pg_sleep(60)'], {
    env: { ...process.env, PGPASSWORD: server.password, PGAPPNAME: application },
    stdio: 'ignore',
  });
  return child;
}

async function waitFor(condition: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('refreshing a developer database (build beside, swap, keep the previous copy)', { timeout: 300_000 }, () => {
  it('restores Pagila (partitions, domains, enums) into a populated target twice in a row, also with --jobs 2', async () => {
    const { db, dir } = await pagilaBackup();
    const source = await state(db);
    const target = await populatedTarget('pagila_twice');
    const dropsPrevious = new RegExp(`^\\s+${target}__ferry_prev, the copy kept by the last restore or reset, is dropped`, 'm');
    for (const [round, jobs] of [['--jobs', '1'], [], ['--jobs', '2']].entries()) {
      const result = await ferry(['restore', 'latest', '--yes', ...jobs], { DATABASE_URL: pgUrl(target), BACKUP_DIRECTORY: dir });
      expect(result.code, result.stderr).toBe(0);
      // The plan says when the copy an earlier restore kept is about to go.
      if (round === 0) expect(result.stderr).not.toMatch(dropsPrevious);
      else expect(result.stderr).toMatch(dropsPrevious);
      // The developer's own table is named in the plan before the restore puts it aside.
      if (round === 0) expect(result.stderr).toMatch(new RegExp(`1 table only in the target, not in the archive, stays in ${target}__ferry_prev \\(ferry restore --undo\\): public\\.dev_notes$`, 'm'));
      expect(result.stdout).toMatch(/postgres: swapped in/);
      expect(result.stdout).toMatch(/the target was unavailable for \d+ ms while swapping/);
      expect(await state(target)).toEqual(source);
    }
    expect(await databaseExists(`${target}__ferry_new`)).toBe(false);
    expect(await databaseExists(`${target}__ferry_prev`)).toBe(true);
  });

  it('undo swaps the previous copy back (and again to redo); reset brings back the restored state; --drop-previous frees them', async () => {
    const { db, dir } = await pagilaBackup();
    const target = await populatedTarget('pagila_undo');
    const config = join(dir, '..', 'keep-pristine.yaml');
    await writeFile(config, 'restore:\n  keep_pristine: true\n', { mode: 0o600 });
    const env = { DATABASE_URL: pgUrl(target), BACKUP_DIRECTORY: dir };
    const developerState = await state(target);
    const restored = await ferry(['--config', config, 'restore', 'latest', '--yes'], env);
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stdout).toMatch(new RegExp(`a pristine copy is kept as ${target}__ferry_pristine`));
    const restoredState = await state(db);

    const undo = await ferry(['restore', '--undo', '--yes'], env);
    expect(undo.code, undo.stderr).toBe(0);
    expect(undo.stdout).toMatch(/postgres: .*the previous copy is back/);
    expect(await state(target)).toEqual(developerState);
    const redo = await ferry(['restore', '--undo', '--yes'], env);
    expect(redo.code, redo.stderr).toBe(0);
    expect(await state(target)).toEqual(restoredState);

    await query(target, 'DELETE FROM rental WHERE rental_id > 5000 AND rental_id NOT IN (SELECT rental_id FROM payment WHERE rental_id IS NOT NULL); TRUNCATE actor CASCADE;');
    const reset = await ferry(['--config', config, 'reset', '--yes'], env);
    expect(reset.code, reset.stderr).toBe(0);
    expect(await state(target)).toEqual(restoredState);

    const noTerminal = await ferry(['reset'], env);
    expect(noTerminal.code).toBe(4);
    expect(noTerminal.stderr).toMatch(/^ferry: reset replaces data and there is no terminal to confirm on$/m);

    // --drop-previous is confirmed like --undo, and --dry-run only shows what it would remove.
    const unconfirmed = await ferry(['restore', '--drop-previous'], env);
    expect(unconfirmed.code).toBe(4);
    expect(unconfirmed.stderr).toMatch(/^ferry: restore --drop-previous removes kept copies and there is no terminal to confirm on$/m);
    const dropPlan = await ferry(['restore', '--drop-previous', '--dry-run'], env);
    expect(dropPlan.code, dropPlan.stderr).toBe(0);
    expect(dropPlan.stdout).toMatch(new RegExp(`postgres: would remove .*/${target}__ferry_prev \\(.+\\), .*/${target}__ferry_pristine`));
    expect(dropPlan.stdout).toMatch(/\(dry run: nothing was changed\)/);
    const undoPlan = await ferry(['restore', '--undo', '--dry-run'], env);
    expect(undoPlan.code, undoPlan.stderr).toBe(0);
    expect(undoPlan.stdout).toMatch(new RegExp(`postgres: .*/${target}__ferry_prev .*replaces`));
    expect(await databaseExists(`${target}__ferry_prev`)).toBe(true);
    expect(await databaseExists(`${target}__ferry_pristine`)).toBe(true);
    expect(await state(target)).toEqual(restoredState);
    const dropped = await ferry(['restore', '--drop-previous', '--yes'], env);
    expect(dropped.code, dropped.stderr).toBe(0);
    expect(dropped.stdout).toMatch(new RegExp(`removed database ${target}__ferry_prev, database ${target}__ferry_pristine`));
    const nothing = await ferry(['restore', '--undo', '--yes'], env);
    expect(nothing.code).toBe(3);
    expect(nothing.stderr).toMatch(/^ferry: no restore kept a previous copy of any configured target$/m);
    const noReset = await ferry(['reset', '--yes'], env);
    expect(noReset.code).toBe(3);
    expect(await state(target)).toEqual(restoredState);
  });

  it('refuses while a session is connected to the target, naming it; --force terminates it', async () => {
    const { db, dir } = await pagilaBackup();
    const target = await populatedTarget('pagila_busy');
    const before = await state(target);
    const session = psqlSession(target, 'recipe-web');
    try {
      await waitFor(async () => (await query('postgres', "SELECT 1 FROM pg_stat_activity WHERE application_name = 'recipe-web'")).length > 0, 'the psql session');
      const env = { DATABASE_URL: pgUrl(target), BACKUP_DIRECTORY: dir };
      const dry = await ferry(['restore', 'latest', '--dry-run'], env);
      expect(dry.stdout).toMatch(/1 connected session\(s\): recipe-web \(pid \d+\) — the restore refuses unless --force/);
      const refused = await ferry(['restore', 'latest', '--yes'], env);
      expect(refused.code).toBe(4);
      expect(refused.stderr).toMatch(new RegExp(`^ferry: database ${target} has 1 connected session: recipe-web \\(pid \\d+, \\w+ from 127\\.0\\.0\\.1, since `, 'm'));
      expect(refused.stderr).toMatch(/--force/);
      expect(await state(target)).toEqual(before);
      expect(await databaseExists(`${target}__ferry_new`)).toBe(false);
      const forced = await ferry(['restore', 'latest', '--yes', '--force'], env);
      expect(forced.code, forced.stderr).toBe(0);
      expect(await state(target)).toEqual(await state(db));
    } finally {
      session.kill('SIGKILL');
    }
  });

  it('a restore killed with SIGKILL while loading leaves the target as it was; the next run removes what it left and succeeds', async () => {
    const { dir, env: sourceEnv } = await backedUpDatabase('big', `CREATE TABLE big (id int PRIMARY KEY, body text);
      INSERT INTO big SELECT i, repeat(md5(i::text), 12) FROM generate_series(1, 400000) i;`);
    void sourceEnv;
    const target = await createDatabase(uniqueName('killed'));
    await query(target, "CREATE TABLE big (id int PRIMARY KEY, body text); INSERT INTO big VALUES (1, 'developer row'); CREATE TABLE mine (v text); INSERT INTO mine VALUES ('kept');");
    const before = await tableDigests(target);
    const env = { DATABASE_URL: pgUrl(target), BACKUP_DIRECTORY: dir };
    for (const jobs of ['1', '2']) {
      const run = startFerry(['restore', 'latest', '--yes', '--jobs', jobs], env);
      await waitFor(async () => (await query('postgres', "SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND query ILIKE 'COPY%'", [`${target}__ferry_new`])).length > 0, 'the load into the new database');
      run.child.kill('SIGKILL');
      await run.done;
      expect(await tableDigests(target)).toEqual(before);
    }
    const next = await ferry(['restore', 'latest', '--yes'], env);
    expect(next.code, next.stderr).toBe(0);
    expect(next.stdout).toMatch(new RegExp(`removed ${target}__ferry_new, left by an earlier restore that did not finish`));
    expect((await query<{ n: string }>(target, 'SELECT count(*)::text AS n FROM big'))[0]?.n).toBe('400000');
    await waitFor(async () => !(await databaseExists(`${target}__ferry_new`)), 'no new database left');
  });

  it('a target left closed to connections (a swap killed between closing it and the renames) is opened again by the next restore, which says so', async () => {
    const { dir } = await backedUpDatabase('closed_src', 'CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 100);');
    const target = await createDatabase(uniqueName('closed'));
    await query(target, 'CREATE TABLE mine (v text)');
    await query('postgres', `ALTER DATABASE "${target}" ALLOW_CONNECTIONS false`);
    // Even a dry run opens it (the plan reads the target), and says that is all it changed.
    const plan = await ferry(['restore', 'latest', '--dry-run'], { DATABASE_URL: pgUrl(target), BACKUP_DIRECTORY: dir });
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toMatch(/\(dry run: nothing was restored; only the database a killed restore had left closed was opened again\)/);
    await query('postgres', `ALTER DATABASE "${target}" ALLOW_CONNECTIONS false`);
    const next = await ferry(['restore', 'latest', '--yes'], { DATABASE_URL: pgUrl(target), BACKUP_DIRECTORY: dir });
    expect(next.code, next.stderr).toBe(0);
    expect(next.stderr).toMatch(new RegExp(`${target} had been left closed to connections by a killed restore: opened again`));
    expect((await query<{ n: string }>(target, 'SELECT count(*)::text AS n FROM t'))[0]?.n).toBe('100');
  });

  it('the dump, written after 40 MB of uploads, is read ahead and checked: the load starts early, and a flipped byte in it fails before any swap', async () => {
    const work = await tempDir();
    const source = await createDatabase(uniqueName('ahead_src'));
    await query(source, "CREATE TABLE notes (id int PRIMARY KEY, body text); INSERT INTO notes SELECT i, md5(i::text) FROM generate_series(1, 20000) i;");
    const uploads = join(work, 'uploads');
    mkdirSync(uploads);
    for (let i = 0; i < 40; i++) writeFileSync(join(uploads, `photo-${i}.jpg`), randomBytes(1024 * 1024));
    const dir = join(work, 'backups');
    const made = await ferry(['backup'], { DATABASE_URL: pgUrl(source), UPLOADS_DIR: uploads, BACKUP_DIRECTORY: dir });
    expect(made.code, made.stderr).toBe(0);
    const target = uniqueName('ahead');
    const env = { DATABASE_URL: pgUrl(target), UPLOADS_DIR: join(work, 'dev-uploads'), BACKUP_DIRECTORY: dir };
    const restored = await ferry(['restore', 'latest', '--yes', '-v', '--jobs', '2'], env);
    expect(restored.code, restored.stderr).toBe(0);
    // The manifest says where the dump begins: the second pass starts there instead of inflating the uploads.
    expect(restored.stdout + restored.stderr).toMatch(/postgresql\/database\.backup read ahead of the archive's pass, from its seek point, checked/);
    // Staged that soon, the dump loads with pg_restore --jobs from the file (test/stores/postgres-slow-dump.test.ts: the other way).
    expect(restored.stdout + restored.stderr).toContain('the dump was staged within 2 s: pg_restore --jobs 2 loads it from the file');
    expect(await tableDigests(target)).toEqual(await tableDigests(source));
    const name = readdirSync(dir).find((n) => /^backup_\d{8}_\d{6}\.tar\.gz$/.test(n)) ?? '';

    // --only postgres starts at the dump's seek point: the uploads before it are not read at all, so
    // a damaged photo does not stop the database's restore (the dump is still checked).
    const photoDamaged = join(work, 'photo-damaged');
    mkdirSync(photoDamaged);
    const photoBytes = readFileSync(join(dir, name));
    photoBytes.writeUInt8(photoBytes.readUInt8(200_000) ^ 0x20, 200_000);
    writeFileSync(join(photoDamaged, name), photoBytes);
    writeFileSync(join(photoDamaged, `${name}.manifest.json`), readFileSync(join(dir, `${name}.manifest.json`)));
    const onlyDb = await ferry(['restore', join(photoDamaged, name), '--yes', '-v', '--only', 'postgres'], { ...env, BACKUP_DIRECTORY: photoDamaged });
    expect(onlyDb.code, onlyDb.stdout + onlyDb.stderr).toBe(0);
    expect(onlyDb.stderr).toContain('read from the seek point of postgresql/database.backup: nothing before it is restored');
    expect(await tableDigests(target)).toEqual(await tableDigests(source));
    const whole = await ferry(['restore', join(photoDamaged, name), '--yes', '--to-db', uniqueName('photo_damaged')], { ...env, BACKUP_DIRECTORY: photoDamaged });
    expect(whole.code, whole.stderr).toBe(2);

    await query(target, "UPDATE notes SET body = 'developer' WHERE id < 100");
    const before = await tableDigests(target);

    // The same archive with one byte of the dump flipped, its entries in the order backup writes them.
    const unpacked = join(work, 'unpacked');
    mkdirSync(unpacked);
    execFileSync('tar', ['-xzf', join(dir, name), '-C', unpacked]);
    const dump = join(unpacked, 'postgresql', 'database.backup');
    const bytes = readFileSync(dump);
    const at = Math.floor(bytes.length / 2);
    bytes.writeUInt8(bytes.readUInt8(at) ^ 0x20, at);
    writeFileSync(dump, bytes);
    const damaged = join(work, 'damaged');
    mkdirSync(damaged);
    execFileSync('tar', ['-czf', join(damaged, name), '-C', unpacked, 'uploads', 'postgresql', 'backup_info.txt', 'manifest.json']);
    writeFileSync(join(damaged, `${name}.manifest.json`), readFileSync(join(dir, `${name}.manifest.json`)));
    const refused = await ferry(['restore', join(damaged, name), '--yes', '-v'], { ...env, BACKUP_DIRECTORY: damaged });
    expect(refused.code, refused.stdout + refused.stderr).toBe(2);
    expect(refused.stderr).toMatch(/postgresql\/database\.backup does not match its checksum/);
    // The sidecar kept the seek point of the archive it came from, which leads nowhere in this one.
    expect(refused.stdout + refused.stderr).toMatch(/reading ahead from the seek point the manifest gives failed before reaching .*; reading from the start/);
    expect(await tableDigests(target)).toEqual(before);
    const refusedAlone = await ferry(['restore', join(damaged, name), '--yes', '-v', '--only', 'postgres'], { ...env, BACKUP_DIRECTORY: damaged });
    expect(refusedAlone.code, refusedAlone.stdout + refusedAlone.stderr).toBe(2);
    expect(refusedAlone.stderr).toMatch(/reading from the seek point of postgresql\/database\.backup failed before reaching it \(.*\); reading from the start/);
    expect(refusedAlone.stderr).toMatch(/postgresql\/database\.backup does not match its checksum/);
    expect(await tableDigests(target)).toEqual(before);
    await waitFor(async () => !(await databaseExists(`${target}__ferry_new`)), 'no new database left');

    // Damage in the dump where the seek point leads (its gzip member may hold the last upload's tail too).
    const manifest = JSON.parse(readFileSync(join(dir, `${name}.manifest.json`), 'utf8')) as { entries: Array<{ path: string; seek?: { offset: number; skip: number } }> };
    const seek = manifest.entries.find((entry) => entry.path === 'postgresql/database.backup')?.seek;
    expect(seek).toBeDefined();
    const flipped = join(work, 'flipped');
    mkdirSync(flipped);
    const archive = readFileSync(join(dir, name));
    const inDump = (seek?.offset ?? 0) + (seek?.skip ?? 0) + 50_000;
    archive.writeUInt8(archive.readUInt8(inDump) ^ 0x20, inDump);
    writeFileSync(join(flipped, name), archive);
    writeFileSync(join(flipped, `${name}.manifest.json`), readFileSync(join(dir, `${name}.manifest.json`)));
    const broken = await ferry(['restore', join(flipped, name), '--yes', '-v'], { ...env, BACKUP_DIRECTORY: flipped });
    expect(broken.code, broken.stdout + broken.stderr).toBe(2);
    expect(broken.stderr).toMatch(/is damaged|does not match its checksum/);
    expect(await tableDigests(target)).toEqual(before);
    await waitFor(async () => !(await databaseExists(`${target}__ferry_new`)), 'no new database left');
  });

  it('with --jobs 2 the foreign keys are added after the load and checked side by side: the same keys as the source, validated or not as there', async () => {
    const keys = `CREATE TABLE parent (id int PRIMARY KEY); INSERT INTO parent SELECT generate_series(1, 1000);
      CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED);
      INSERT INTO child SELECT i, 1 + i % 1000 FROM generate_series(1, 5000) i;
      CREATE TABLE "Odd ""Child""" ("parent id" int, CONSTRAINT "odd key" FOREIGN KEY ("parent id") REFERENCES parent(id) MATCH FULL);
      INSERT INTO "Odd ""Child""" VALUES (7);
      CREATE TABLE loose (parent_id int); INSERT INTO loose VALUES (5000);
      ALTER TABLE loose ADD CONSTRAINT loose_parent FOREIGN KEY (parent_id) REFERENCES parent(id) NOT VALID;
      CREATE TABLE events (at date NOT NULL, parent_id int REFERENCES parent(id)) PARTITION BY RANGE (at);
      CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
      INSERT INTO events VALUES ('2026-05-01', 3);
      CREATE TABLE regions (id int, r int, PRIMARY KEY (id, r)) PARTITION BY LIST (r);
      CREATE TABLE regions_1 PARTITION OF regions FOR VALUES IN (1); CREATE TABLE regions_2 PARTITION OF regions FOR VALUES IN (2);
      INSERT INTO regions VALUES (1, 1), (2, 2);
      CREATE TABLE shops (id int PRIMARY KEY, region int, r int, FOREIGN KEY (region, r) REFERENCES regions);
      INSERT INTO shops VALUES (1, 1, 1), (2, 2, 2);
      CREATE TABLE notes (id int PRIMARY KEY, parent_id int); CREATE TABLE dated_notes (at date) INHERITS (notes);
      INSERT INTO notes VALUES (1, 1); INSERT INTO dated_notes VALUES (2, 2, '2026-01-01');
      ALTER TABLE ONLY notes ADD CONSTRAINT notes_parent FOREIGN KEY (parent_id) REFERENCES parent(id);
      CREATE TABLE "line
-- break" ("a
\b" int REFERENCES parent(id)); INSERT INTO "line
-- break" VALUES (9);`;
    const { db, dir } = await backedUpDatabase('keys_src', keys);
    const target = uniqueName('keys');
    const restored = await ferry(['restore', 'latest', '--yes', '--jobs', '2', '-v'], { DATABASE_URL: pgUrl(target), BACKUP_DIRECTORY: dir });
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stderr).toMatch(/7 foreign key\(s\) are added after the load and checked side by side/);
    expect(await foreignKeys(target)).toEqual(await foreignKeys(db));
    // loose_parent was NOT VALID in the source (a row breaks it): it still is, and the row is there.
    expect((await foreignKeys(target)).filter((k) => k.convalidated === false).map((k) => k.conname)).toEqual(['loose_parent']);
    expect(await tableDigests(target)).toEqual(await tableDigests(db));

    // The key to a partitioned table is checked against every partition, as pg_restore adds it.
    expect((await query<{ n: string }>(target, "SELECT count(*)::text AS n FROM pg_constraint WHERE contype = 'f' AND conrelid = 'shops'::regclass AND convalidated")).map((r) => r.n)).toEqual(['3']);

    // A comment on a key needs the key: such a dump leaves its keys to pg_restore, with the same result.
    await query(db, "COMMENT ON CONSTRAINT child_parent_id_fkey ON child IS 'why this key'");
    const commented = await backedUpDatabase('keys_commented', '', db);
    const again = await ferry(['restore', 'latest', '--yes', '--jobs', '2', '-v'], { DATABASE_URL: pgUrl(target), BACKUP_DIRECTORY: commented.dir });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).not.toMatch(/are added after the load/);
    expect(await foreignKeys(target)).toEqual(await foreignKeys(db));
    expect((await query<{ c: string }>(target, "SELECT obj_description(oid, 'pg_constraint') AS c FROM pg_constraint WHERE conname = 'child_parent_id_fkey'"))[0]?.c).toBe('why this key');

    // An event trigger, which pg_restore creates last, would fire on Ferry's own ALTER TABLE: pg_restore adds the keys.
    const triggered = await backedUpDatabase('keys_event', `CREATE TABLE p (id int PRIMARY KEY); CREATE TABLE c (pid int REFERENCES p); INSERT INTO p VALUES (1); INSERT INTO c VALUES (1);
      CREATE TABLE ddl_log (tag text);
      CREATE FUNCTION log_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO public.ddl_log VALUES (tg_tag); END $$;
      CREATE EVENT TRIGGER log_ddl ON ddl_command_end EXECUTE FUNCTION log_ddl();`);
    const withTrigger = uniqueName('keys_event');
    const logged = await ferry(['restore', 'latest', '--yes', '--jobs', '2', '-v'], { DATABASE_URL: pgUrl(withTrigger), BACKUP_DIRECTORY: triggered.dir });
    expect(logged.code, logged.stderr).toBe(0);
    expect(logged.stderr).not.toMatch(/are added after the load/);
    expect(await tableDigests(withTrigger)).toEqual(await tableDigests(triggered.db));

    // Rows that break a key (written past it, as a replica does): the check fails, nothing is swapped in.
    await query(db, "COMMENT ON CONSTRAINT child_parent_id_fkey ON child IS NULL; SET session_replication_role = replica; INSERT INTO child VALUES (999999, 424242)");
    const broken = await backedUpDatabase('keys_broken', '', db);
    const before = await tableDigests(target);
    const failed = await ferry(['restore', 'latest', '--yes', '--jobs', '2'], { DATABASE_URL: pgUrl(target), BACKUP_DIRECTORY: broken.dir });
    expect(failed.code).not.toBe(0);
    expect(failed.stderr).toMatch(/failed adding a foreign key: insert or update on table "child" violates foreign key constraint "child_parent_id_fkey"/);
    expect(failed.stderr).toMatch(/the target is as it was/);
    expect(await tableDigests(target)).toEqual(before);
    await waitFor(async () => !(await databaseExists(`${target}__ferry_new`)), 'no new database left');
  });

  it('--tables replaces only those rows and sequences, into a populated and into a fresh database; a referenced table needs --cascade', async () => {
    const { db, dir } = await pagilaBackup();
    const source = await state(db);
    const target = await populatedTarget('pagila_tables');
    await query(target, "UPDATE film SET title = 'LOCAL FILM' WHERE film_id = 1; DELETE FROM film_actor WHERE actor_id > 150; DELETE FROM actor WHERE actor_id > 150; SELECT setval('actor_actor_id_seq', 5000);");
    const before = await state(target);
    const env = { DATABASE_URL: pgUrl(target), BACKUP_DIRECTORY: dir };
    const refused = await ferry(['restore', 'latest', '--yes', '--tables', 'actor'], env);
    expect(refused.code).toBe(4);
    expect(refused.stderr).toMatch(/^ferry: --tables: other tables reference the selected ones: public\.film_actor → public\.actor$/m);
    // The plan refuses the same way, and with --cascade names what it also empties.
    const refusedPlan = await ferry(['restore', 'latest', '--dry-run', '--tables', 'actor'], env);
    expect(refusedPlan.code).toBe(4);
    expect(refusedPlan.stderr).toMatch(/^ferry: --tables: other tables reference the selected ones: public\.film_actor → public\.actor$/m);
    const cascadePlan = await ferry(['restore', 'latest', '--dry-run', '--tables', 'actor', '--cascade'], env);
    expect(cascadePlan.code, cascadePlan.stderr).toBe(0);
    expect(cascadePlan.stdout).toMatch(/--cascade also empties public\.film_actor/);
    const noMongo = await ferry(['restore', 'latest', '--yes', '--collections', 'recipes'], env);
    expect(noMongo.code).toBe(3);
    expect(noMongo.stderr).toMatch(/^ferry: --collections selects MongoDB collections, but this restore has no MongoDB \(archive .+ holds none\)$/m);
    expect(await state(target)).toEqual(before);

    const both = await ferry(['restore', 'latest', '--yes', '--tables', 'actor,film_actor'], env);
    expect(both.code, both.stderr).toBe(0);
    const after = await state(target);
    expect(after.tables['public.actor']).toEqual(source.tables['public.actor']);
    expect(after.tables['public.film_actor']).toEqual(source.tables['public.film_actor']);
    expect(after.sequences['public.actor_actor_id_seq']).toBe(source.sequences['public.actor_actor_id_seq']);
    expect(after.tables['public.film']).toEqual(before.tables['public.film']);
    expect(after.tables['public.dev_notes']).toEqual(before.tables['public.dev_notes']);
    expect(after.objects).toEqual(before.objects);

    const fresh = uniqueName('tables_fresh');
    const intoFresh = await ferry(['restore', 'latest', '--yes', '--tables', 'actor'], { DATABASE_URL: pgUrl(fresh), BACKUP_DIRECTORY: dir });
    expect(intoFresh.code, intoFresh.stderr).toBe(0);
    expect(intoFresh.stdout).toMatch(/left out \(they need objects that were not selected\): trigger last_updated of public\.actor/);
    expect((await tableDigests(fresh))['public.actor']).toEqual(source.tables['public.actor']);
    expect((await sequenceValues(fresh))['public.actor_actor_id_seq']).toBe(source.sequences['public.actor_actor_id_seq']);
    expect((await query<{ indexname: string }>(fresh, "SELECT indexname FROM pg_indexes WHERE tablename = 'actor' ORDER BY 1")).map((r) => r.indexname)).toEqual(['actor_pkey', 'idx_actor_last_name']);
  });

  it('a role without CREATEDB gets the in-place strategy, says why, and refreshes twice; SIGKILL during its load commits nothing', async () => {
    const { db, dir } = await pagilaBackup();
    const { role, target, url } = await ownedByRoleWithoutCreatedb('inplace');
    const env = { DATABASE_URL: url, BACKUP_DIRECTORY: dir };
    for (let i = 0; i < 2; i++) {
      const result = await ferry(['restore', 'latest', '--yes'], env);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toMatch(new RegExp(`strategy in-place: in place, in one transaction: role ${role} lacks CREATEDB`));
      expect(await state(target)).toEqual(await state(db));
    }
    await query(target, 'TRUNCATE payment, rental CASCADE');
    const before = await state(target);
    const run = startFerry(['restore', 'latest', '--yes'], env);
    await waitFor(async () => (await query('postgres', "SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND query ILIKE 'COPY%'", [target])).length > 0, 'the in-place load');
    run.child.kill('SIGKILL');
    await run.done;
    await waitFor(async () => (await query('postgres', 'SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND usename = $2', [target, role])).length === 0, 'the killed load to end');
    expect(await state(target)).toEqual(before);
  });

  it('in place: another role\'s session is seen though an ordinary role sees little of it, refused, and ended by --force only when the role may', async () => {
    const { db, dir } = await pagilaBackup();
    const { role, target, url } = await ownedByRoleWithoutCreatedb('inplace_busy');
    const other = uniqueName('app_role');
    await query('postgres', `CREATE ROLE ${other} LOGIN PASSWORD 'app-role-pw'`);
    const env = { DATABASE_URL: url, BACKUP_DIRECTORY: dir };
    const first = await ferry(['restore', 'latest', '--yes'], env);
    expect(first.code, first.stderr).toBe(0);
    await query(target, `GRANT SELECT ON public.actor TO ${other}; UPDATE actor SET last_name = 'CHANGED' WHERE actor_id < 10`);
    const before = await state(target);
    // The app holds a lock on actor inside a transaction, as a web server between two queries may.
    const app = spawn('psql', ['-X', '-d', pgUrl(target, { user: other, password: 'app-role-pw' }), '-c', 'BEGIN; SELECT count(*) FROM actor; SELECT pg_sleep(120);'], { env: { ...process.env, PGAPPNAME: 'grimoire-web' }, stdio: 'ignore' });
    const ended = new Promise<number | null>((resolveEnded) => app.on('exit', (code) => resolveEnded(code)));
    try {
      await waitFor(async () => (await query('postgres', "SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND usename = $2 AND query LIKE '%pg_sleep%'", [target, other])).length > 0, 'the app session');
      const refused = await ferry(['restore', 'latest', '--yes'], env);
      expect(refused.code).toBe(4);
      expect(refused.stderr).toMatch(new RegExp(`^ferry: database ${target} has 1 connected session: .*\\(pid \\d+, ${other} from`, 'm'));
      const notAllowed = await ferry(['restore', 'latest', '--yes', '--force'], env);
      expect(notAllowed.code).toBe(4);
      expect(notAllowed.stderr).toMatch(new RegExp(`^ferry: --force: role ${role} may not end the sessions of other roles on ${target}`, 'm'));
      expect(notAllowed.stderr).toMatch(new RegExp(`--force cannot end them: role ${role} may not end other roles' sessions \\(pg_signal_backend\\), so the restore refuses$`, 'm'));
      expect(await state(target)).toEqual(before);
      await query('postgres', `GRANT pg_signal_backend TO ${role}`);
      const forced = await ferry(['restore', 'latest', '--yes', '--force'], env);
      expect(forced.code, forced.stderr).toBe(0);
      expect(forced.stdout).toMatch(/the sessions connected to the target were terminated \(--force\)/);
      expect(await ended).not.toBe(0);
      expect(await state(target)).toEqual(await state(db));
    } finally {
      app.kill();
    }
  });

  it('in place: a dump whose rows disagree with the manifest (its checksum consistent) is caught before COMMIT and rolled back, the target untouched', async () => {
    const { db, dir } = await pagilaBackup();
    const { role, target, url } = await ownedByRoleWithoutCreatedb('inplace_short');
    const first = await ferry(['restore', 'latest', '--yes'], { DATABASE_URL: url, BACKUP_DIRECTORY: dir });
    expect(first.code, first.stderr).toBe(0);
    await query(target, `UPDATE actor SET last_name = 'CHANGED' WHERE actor_id < 10; CREATE TABLE public.my_notes (v text); CREATE SCHEMA mine; CREATE TABLE mine.scratch (v text); ALTER TABLE public.my_notes OWNER TO ${role}`);
    const plan = await ferry(['restore', 'latest', '--dry-run'], { DATABASE_URL: url, BACKUP_DIRECTORY: dir });
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toMatch(/1 table only in the target is dropped with its schema and not kept anywhere: public\.my_notes$/m);
    expect(plan.stdout).toMatch(/1 table only in the target, in schemas the dump does not fill, stays as it is: mine\.scratch$/m);
    const before = await state(target);
    // The archive (a copy) gets a dump that lacks one actor, with its checksum updated: the manifest still counts them all.
    const short = uniqueName('pagila_short');
    await query('postgres', `CREATE DATABASE ${short} TEMPLATE ${db}`);
    await query(short, 'DELETE FROM film_actor WHERE actor_id = 1; DELETE FROM actor WHERE actor_id = 1');
    const copies = join(await tempDir(), 'backups');
    mkdirSync(copies);
    const archive = readdirSync(dir).filter((name) => /^backup_\d{8}_\d{6}\.tar\.gz$/.test(name)).sort().at(-1) as string;
    execFileSync('cp', [join(dir, archive), join(copies, archive)]);
    replaceEntry(join(copies, archive), 'postgresql/database.backup', execFileSync('pg_dump', ['-Fc', '-d', pgUrl(short)], { maxBuffer: 1 << 28 }));
    const env = { DATABASE_URL: url, BACKUP_DIRECTORY: copies };
    const failed = await ferry(['restore', 'latest', '--yes'], env);
    expect(failed.code, failed.stderr).toBe(2);
    expect(failed.stderr).toMatch(/^ferry: public\.actor would hold 199 rows after the restore, the manifest says 200$/m);
    expect(failed.stderr).toMatch(/Nothing was committed/);
    expect(await state(target)).toEqual(before);
  });

  it('a CREATEDB owner that is no superuser refreshes with --jobs 2 and its own PGOPTIONS: only a superuser\'s sessions shorten deadlock_timeout (the server refuses it to others at connection)', async () => {
    const { db, dir } = await pagilaBackup();
    const role = uniqueName('owner_role');
    const target = uniqueName('owned');
    await query('postgres', `CREATE ROLE ${role} LOGIN PASSWORD 'owner-role-pw' CREATEDB NOSUPERUSER`);
    await query('postgres', `CREATE DATABASE ${target} OWNER ${role}`);
    const env = { DATABASE_URL: pgUrl(target, { user: role, password: 'owner-role-pw' }), BACKUP_DIRECTORY: dir, PGOPTIONS: '-c work_mem=8MB' };
    const refused = spawnSync('psql', ['-X', '-d', pgUrl('postgres', { user: role, password: 'owner-role-pw' }), '-c', 'SELECT 1'], { env: { ...process.env, PGOPTIONS: '-c deadlock_timeout=50ms' }, encoding: 'utf8' });
    expect(refused.stderr).toMatch(/permission denied to set parameter "deadlock_timeout"/);
    const result = await ferry(['restore', 'latest', '--yes', '--jobs', '2', '-v'], env);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/strategy swap|swapped in/);
    expect(result.stderr).toMatch(/foreign key\(s\) are added after the load and checked side by side/);
    expect(await state(target)).toEqual(await state(db));
  });

  it('restore.before runs before the swap (a failure there changes nothing), restore.after after it', async () => {
    const { dir } = await pagilaBackup();
    const target = await populatedTarget('pagila_hooks');
    const before = await state(target);
    const marker = join(dir, '..', `after-${target}`);
    const failing = join(dir, '..', 'hooks-fail.yaml');
    await writeFile(failing, `restore:\n  before: [sh, -c, 'echo app will not stop >&2; exit 7']\n  after: [touch, ${marker}]\n`, { mode: 0o600 });
    const env = { DATABASE_URL: pgUrl(target), BACKUP_DIRECTORY: dir };
    const failed = await ferry(['--config', failing, 'restore', 'latest', '--yes'], env);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/^ferry: restore\.before \(sh -c echo app will not stop >&2; exit 7\) exited 7: app will not stop$/m);
    expect(await state(target)).toEqual(before);
    expect(await databaseExists(`${target}__ferry_new`)).toBe(false);
    const { existsSync } = await import('node:fs');
    expect(existsSync(marker)).toBe(true);
  });
});
