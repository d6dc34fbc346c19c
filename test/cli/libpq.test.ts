import { chmodSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ferry } from '../support/cli.js';
import { createDatabase, pgServer, query, uniqueName } from '../support/pg.js';
import { tempDir } from '../support/tmp.js';

/** A database with one known table, and a backup directory for it. */
async function source(prefix: string) {
  const work = await tempDir();
  const db = await createDatabase(uniqueName(prefix));
  await query(db, "CREATE TABLE recipes (id int PRIMARY KEY, title text); INSERT INTO recipes SELECT i, 'r' || i FROM generate_series(1, 7) i;");
  return { work, db, backups: join(work, 'backups') };
}

/** Backs up with `env` and checks the archive holds the database's 7 rows; returns the output. */
async function backsUp(env: Record<string, string>, backups: string) {
  const made = await ferry(['backup', '--json'], { BACKUP_DIRECTORY: backups, ...env });
  expect(made.code, made.stderr).toBe(0);
  expect(readdirSync(backups).filter((n) => /^backup_\d{8}_\d{6}\.tar\.gz$/.test(n))).toHaveLength(1);
  expect(made.stdout).toMatch(/"recipes"|public\.recipes/);
  expect(made.stdout).toMatch(/\b7\b/);
  for (const text of [made.stdout, made.stderr]) expect(text).not.toContain(pgServer().password);
  return made;
}

describe('libpq conventions: PG* variables, keyword/value strings, the password and service files', () => {
  it('backs up with only the PG* variables set, as pg_dump would', async () => {
    const { db, backups } = await source('pgvars');
    const { port, user, password } = pgServer();
    await backsUp({ PGHOST: '127.0.0.1', PGPORT: String(port), PGUSER: user, PGPASSWORD: password, PGDATABASE: db }, backups);
  });

  it('takes a keyword/value DATABASE_URL with a quoted value, and lets PGPASSWORD fill the password it leaves out', async () => {
    const { db, backups } = await source('keyval');
    const { port, user, password } = pgServer();
    const made = await backsUp({ DATABASE_URL: `host=127.0.0.1 port = ${port} dbname='${db}' user=${user}`, PGPASSWORD: password }, backups);
    expect(made.stdout).toContain(db);
  });

  it('explicit URL parts win over the PG* variables, which fill only what is missing', async () => {
    const { db, backups } = await source('precedence');
    const { port, user, password } = pgServer();
    // PGDATABASE and PGHOST name something else: the URL's own database and host are used.
    await backsUp({ DATABASE_URL: `postgresql://${user}@127.0.0.1/${db}`, PGPORT: String(port), PGPASSWORD: password, PGDATABASE: 'not_this_one', PGHOST: '192.0.2.1' }, backups);
  });

  it('reads the password from PGPASSFILE, and ignores one that others can read, as libpq does', async () => {
    const { work, db, backups } = await source('passfile');
    const { port, user, password } = pgServer();
    const passfile = join(work, 'pgpass');
    writeFileSync(passfile, `# host:port:database:user:password\nother:*:*:*:wrong\n127.0.0.1:${port}:*:${user}:${password.replace(/[:\\]/g, '\\$&')}\n`, { mode: 0o600 });
    const env = { DATABASE_URL: `postgresql://${user}@127.0.0.1:${port}/${db}`, PGPASSFILE: passfile };
    await backsUp(env, backups);

    chmodSync(passfile, 0o644);
    const refused = await ferry(['backup'], { BACKUP_DIRECTORY: join(work, 'other'), ...env });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/password file .*pgpass can be read by other users/);
    expect(refused.stderr).toMatch(/authentication failed|no password/);
  });

  it('takes the connection from PGSERVICE and the PGSERVICEFILE it names', async () => {
    const { work, db, backups } = await source('service');
    const { port, user, password } = pgServer();
    const serviceFile = join(work, 'pg_service.conf');
    writeFileSync(serviceFile, `# services\n[other]\nhost=192.0.2.1\n\n[grimoire]\nhost=127.0.0.1\nport=${port}\ndbname=${db}\nuser=${user}\n`);
    await backsUp({ PGSERVICE: 'grimoire', PGSERVICEFILE: serviceFile, PGPASSWORD: password }, backups);

    const missing = await ferry(['backup'], { BACKUP_DIRECTORY: backups, PGSERVICE: 'nope', PGSERVICEFILE: serviceFile });
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/service nope is not defined in .*pg_service\.conf/);
  });

  const malformed: Array<[string, Record<string, string>, RegExp]> = [
    ['a scheme without //', { DATABASE_URL: 'postgres:/oops' }, /DATABASE_URL: postgres\.url: expected \/\/ after postgres:/],
    ['a scheme that is not PostgreSQL', { DATABASE_URL: 'mysql://app:pw@db/app' }, /the scheme mysql:\/\/ is not PostgreSQL/],
    ['a port out of range', { DATABASE_URL: 'postgresql://app@db:99999/app' }, /port 99999 is out of range 1-65535/],
    ['a port that is not a number', { DATABASE_URL: 'postgresql://app@db:5x/app' }, /the port is not a number/],
    ['a plain word', { DATABASE_URL: 'localhost' }, /expected a URL such as .* or keyword\/value settings/],
    ['an unknown keyword', { DATABASE_URL: 'host=db dbnme=app' }, /keyword\/value settings: unknown keyword dbnme, did you mean dbname/],
    ['an unclosed quote', { DATABASE_URL: "host=db password='never-shown" }, /the quoted value of password has no closing '/],
    ['a setting without =', { DATABASE_URL: 'host=db never-shown' }, /setting 2 has no =/],
    ['a keyword/value port out of range', { DATABASE_URL: 'host=db port=0' }, /port 0 is out of range/],
    ['PGPORT that is not a number', { PGHOST: 'db', PGPORT: 'five' }, /environment variable PGPORT: the port is not a number/],
  ];
  for (const [what, env, message] of malformed) {
    it(`${what} is a configuration error naming the part (exit 3)`, async () => {
      const work = await tempDir();
      const result = await ferry(['backup'], { BACKUP_DIRECTORY: join(work, 'b'), ...env });
      expect(result.code, result.stderr).toBe(3);
      expect(result.stderr).toMatch(message);
      expect(result.stderr).not.toContain('never-shown');
    });
  }
});
