import { execFileSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ferry } from '../support/cli.js';
import { fakeToolDir } from '../support/fake-tools.js';
import { createDatabase, pgServer, query, uniqueName } from '../support/pg.js';
import { tempDir } from '../support/tmp.js';

const PASSWORD = 'S3cr3t-P@ss:w/rd%Grimoire';

describe('secrets never land in archives, manifests, logs or argv', () => {
  it('keeps the database password out of everything Ferry writes, prints and spawns', async () => {
    const work = await tempDir();
    const user = uniqueName('secret_user');
    const source = await createDatabase(uniqueName('secret_src'));
    await query('postgres', `CREATE ROLE ${user} LOGIN SUPERUSER PASSWORD '${PASSWORD}'`);
    await query(source, "CREATE TABLE t (v text); INSERT INTO t VALUES ('hello');");
    const url = (db: string) => `postgresql://${user}:${encodeURIComponent(PASSWORD)}@127.0.0.1:${pgServer().port}/${db}`;

    // Stand-in tools that record, from /proc, the exact command line each spawned process got.
    const argvLog = join(work, 'argv.log');
    const tools = await fakeToolDir(join(work, 'tools'), { body: `tr '\\0' ' ' < /proc/$$/cmdline >> ${argvLog}; echo >> ${argvLog}; exec "$REAL" "$@"` });
    const backups = join(work, 'backups');
    const env = { DATABASE_URL: url(source), BACKUP_DIRECTORY: backups, FERRY_POSTGRES_BIN_DIR: tools };
    const made = await ferry(['backup', '--verbose'], env);
    expect(made.code, made.stderr).toBe(0);
    const target = uniqueName('secret_dst');
    const restored = await ferry(['restore', 'latest', '--yes', '--json'], { ...env, DATABASE_URL: url(target) });
    expect(restored.code, restored.stderr).toBe(0);
    const failed = await ferry(['backup', '--json'], { ...env, DATABASE_URL: url('no_such_db') });
    expect(failed.code).toBe(1);
    const listed = await ferry(['list', '--json'], env);
    const inspected = await ferry(['inspect', 'latest', '--json'], env);

    const argv = await readFile(argvLog, 'utf8');
    expect(argv).toMatch(/pg_dump --format=custom/);
    expect(argv).toMatch(/pg_restore --no-owner --no-privileges --no-password --exit-on-error/);
    const encoded = encodeURIComponent(PASSWORD);
    const haystacks: Record<string, string> = {
      argv,
      outputs: [made, restored, failed, listed, inspected].map((r) => r.stdout + r.stderr).join('\n'),
    };
    for (const name of await readdir(backups)) {
      const bytes = await readFile(join(backups, name));
      haystacks[name] = name.endsWith('.tar.gz') ? gunzipSync(bytes).toString('latin1') : bytes.toString('latin1');
    }
    for (const [where, text] of Object.entries(haystacks)) {
      expect(text.includes(PASSWORD), `password in ${where}`).toBe(false);
      expect(text.includes(encoded), `encoded password in ${where}`).toBe(false);
      expect(text.includes('S3cr3t'), `part of the password in ${where}`).toBe(false);
    }
    expect(haystacks.outputs).toContain(`${user}@127.0.0.1`);
    expect(execFileSync('tar', ['-tzf', join(backups, (await readdir(backups)).find((n) => n.endsWith('.tar.gz'))!)]).toString()).toContain('manifest.json');
  });
});
