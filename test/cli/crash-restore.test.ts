import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ferry, startFerry } from '../support/cli.js';
import { createDatabase, databaseExists, pgUrl, query, tableDigests, uniqueName } from '../support/pg.js';
import { tempDir } from '../support/tmp.js';
import { crashSeed, seededRandom } from '../support/crash.js';

function tree(dir: string): string {
  if (!existsSync(dir)) return 'missing';
  const hash = createHash('sha256');
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      const path = join(rel, name);
      const full = join(dir, path);
      try {
        hash.update(`${path}\n`).update(readFileSync(full));
      } catch {
        walk(path);
      }
    }
  };
  walk('');
  return hash.digest('hex');
}

const KILLS = 14;

describe('crash points: SIGKILL of ferry restore at many moments', { timeout: 300_000 }, () => {
  it(`leaves each target exactly as before or exactly as the archive holds it, never a mix; the next run cleans up (${KILLS} kills)`, async () => {
    const seed = crashSeed('restore crash points');
    const next = seededRandom(seed);
    const work = await tempDir();
    const source = await createDatabase(uniqueName('crash_src'));
    await query(source, `CREATE TABLE recipes (id int PRIMARY KEY, title text, body text);
      INSERT INTO recipes SELECT i, 'recipe ' || i, repeat(md5(i::text), 20) FROM generate_series(1, 60000) i;
      CREATE TABLE tags (id serial PRIMARY KEY, recipe int REFERENCES recipes, tag text);
      INSERT INTO tags (recipe, tag) SELECT i, 'tag' || (i % 7) FROM generate_series(1, 60000) i;`);
    const sourceUploads = join(work, 'prod-uploads');
    mkdirSync(join(sourceUploads, 'images'), { recursive: true });
    for (let i = 0; i < 40; i++) writeFileSync(join(sourceUploads, 'images', `r${i}.jpg`), randomBytes(64 * 1024));
    const backups = join(work, 'backups');
    const made = await ferry(['backup'], { DATABASE_URL: pgUrl(source), UPLOADS_DIR: sourceUploads, BACKUP_DIRECTORY: backups });
    expect(made.code, made.stderr).toBe(0);
    const archiveState = { pg: await tableDigests(source), files: tree(sourceUploads) };

    const target = await createDatabase(uniqueName('crash_dev'));
    await query(target, `CREATE TABLE recipes (id int PRIMARY KEY, title text, body text); INSERT INTO recipes VALUES (1, 'draft', 'mine');
      CREATE TABLE mine (v text); INSERT INTO mine VALUES ('dev only');`);
    const uploads = join(work, 'dev-uploads');
    mkdirSync(uploads);
    writeFileSync(join(uploads, 'local.jpg'), 'local file');
    // Its own temp directory: a killed restore leaves the dump it staged there, which the next run must remove.
    const temp = join(work, 'tmp');
    mkdirSync(temp);
    const env = { DATABASE_URL: pgUrl(target), UPLOADS_DIR: uploads, BACKUP_DIRECTORY: backups, TMPDIR: temp };
    const devState = { pg: await tableDigests(target), files: tree(uploads) };

    // How long a whole restore takes here, to spread the kill moments over it; then back to the developer's state.
    const started = Date.now();
    const whole = await ferry(['restore', 'latest', '--yes'], env);
    expect(whole.code, whole.stderr).toBe(0);
    const duration = Date.now() - started;
    const undo = await ferry(['restore', '--undo', '--yes'], env);
    expect(undo.code, undo.stderr).toBe(0);
    expect({ pg: await tableDigests(target), files: tree(uploads) }).toEqual(devState);

    const outcomes = { before: 0, restored: 0, closed: 0 };
    for (let i = 0; i < KILLS; i++) {
      const moment = Math.floor(next() * duration * 1.5);
      const run = startFerry(['restore', 'latest', '--yes'], env);
      await new Promise((r) => setTimeout(r, moment));
      run.child.kill('SIGKILL');
      const ended = await run.done;
      const where = `kill ${i + 1} at ${moment} ms (seed ${seed}, exit ${ended.code})`;
      // Killed between closing the target to connections and the renames: its data is untouched, and
      // the next restore's plan opens it again (refresh.test.ts); here the test opens it to read it.
      const [closed] = await query<{ allow: boolean }>('postgres', 'SELECT datallowconn AS allow FROM pg_database WHERE datname = $1', [target]);
      if (closed?.allow === false) {
        outcomes.closed++;
        await query('postgres', `ALTER DATABASE "${target}" ALLOW_CONNECTIONS true`);
      }
      const now = { pg: await tableDigests(target).catch((error: unknown) => `unreadable: ${(error as Error).message}`), files: tree(uploads) };
      const pgBefore = JSON.stringify(now.pg) === JSON.stringify(devState.pg);
      const pgRestored = JSON.stringify(now.pg) === JSON.stringify(archiveState.pg);
      const filesBefore = now.files === devState.files;
      const filesRestored = now.files === archiveState.files;
      expect(pgBefore || pgRestored, `${where}: PostgreSQL is a mix: ${typeof now.pg === 'string' ? now.pg : JSON.stringify(now.pg)}`).toBe(true);
      expect(filesBefore || filesRestored, `${where}: uploads are a mix (or missing)`).toBe(true);
      const swapped = [...(pgRestored ? ['postgres'] : []), ...(filesRestored ? ['uploads'] : [])];
      if (swapped.length === 0) outcomes.before++;
      else {
        outcomes.restored++;
        // Back to the developer's state for the next kill: undo swaps back exactly the stores that were swapped.
        const back = await ferry(['restore', '--undo', '--yes', '--force', '--only', swapped.join(',')], env);
        expect(back.code, `${where}: undo: ${back.stderr}`).toBe(0);
      }
      expect({ pg: await tableDigests(target), files: tree(uploads) }, `${where}: back to the developer state`).toEqual(devState);
    }
    console.log(`crash-restore: ${KILLS} kills, ${outcomes.before} left every target as before, ${outcomes.restored} after at least one swap, ${outcomes.closed} with the target left closed to connections`);

    const staged = readdirSync(temp).filter((name) => name.startsWith('ferry-'));
    const final = await ferry(['restore', 'latest', '--yes', '--force'], env);
    expect(final.code, final.stderr).toBe(0);
    if (staged.length > 0) expect(final.stderr).toMatch(/removed what a killed run left: .*ferry-(restore|plan)-/);
    expect(readdirSync(temp), 'what the killed restores staged').toEqual([]);
    expect({ pg: await tableDigests(target), files: tree(uploads) }).toEqual(archiveState);
    expect(await databaseExists(`${target}__ferry_new`)).toBe(false);
    const leftovers = readdirSync(work).filter((name) => name.includes('ferry-restore') || name.includes('ferry-new'));
    expect(leftovers).toEqual([]);
  });
});
