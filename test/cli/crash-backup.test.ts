import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ferry, startFerry } from '../support/cli.js';
import { crashSeed, processesMentioning, seededRandom, untilNoProcessMentions } from '../support/crash.js';
import { fakeToolDir } from '../support/fake-tools.js';
import { createDatabase, pgUrl, query, uniqueName } from '../support/pg.js';
import { tempDir } from '../support/tmp.js';

const KILLS = 16;

async function sourceDatabase(): Promise<string> {
  const db = await createDatabase(uniqueName('crash'));
  await query(db, `CREATE TABLE recipes (id serial PRIMARY KEY, title text NOT NULL, body text NOT NULL);
    INSERT INTO recipes (title, body) SELECT 'recette ' || i, repeat(md5(i::text), 2) FROM generate_series(1, 60000) i;
    CREATE TABLE ingredients (id serial PRIMARY KEY, recipe_id int REFERENCES recipes, name text);
    INSERT INTO ingredients (recipe_id, name) SELECT 1 + i % 60000, 'ingredient ' || i FROM generate_series(1, 10000) i;`);
  return db;
}

async function uploadsFolder(work: string): Promise<string> {
  const uploads = join(work, 'uploads');
  await mkdir(join(uploads, 'photos'), { recursive: true });
  for (let i = 0; i < 20; i++) await writeFile(join(uploads, 'photos', `photo ${i}.jpg`), randomBytes(64 * 1024));
  return uploads;
}

const archives = async (dir: string) => (await readdir(dir)).filter((n) => /^backup_\d{8}_\d{6}\.tar\.gz$/.test(n)).sort();
async function leftoversIn(dir: string): Promise<string[]> {
  const names = await readdir(dir);
  const orphanSidecar = (n: string) => /^(backup_\d{8}_\d{6}\.tar\.gz)\.(sha256|manifest\.json|verify\.json)$/.test(n) && !names.includes(n.replace(/\.(sha256|manifest\.json|verify\.json)$/, ''));
  return names.filter((n) => n.endsWith('.partial') || n.startsWith('.ferry-tmp-') || (n.endsWith('.tmp') && !n.includes('.verify.json.')) || orphanSidecar(n));
}

describe('SIGKILL of ferry backup at any moment', () => {
  it('a killed ferry takes its pg_dump with it (the watchdog), and the next backup removes and reports what it left', async () => {
    const work = await tempDir();
    const db = await createDatabase(uniqueName('orphan'));
    await query(db, 'CREATE TABLE t (id int); INSERT INTO t VALUES (1)');
    const dir = join(work, 'backups');
    const marker = join(work, 'dump-started');
    // The stand-in pg_dump sleeps before the real one: without the watchdog it would outlive ferry by 30 s.
    const tools = await fakeToolDir(join(work, 'tools'), { body: `case "$0" in *pg_dump) echo $$ > ${marker}; sleep 30;; esac; exec "$REAL" "$@"` });
    const run = startFerry(['backup'], { DATABASE_URL: pgUrl(db), BACKUP_DIRECTORY: dir, FERRY_POSTGRES_BIN_DIR: tools });
    while (!existsSync(marker) || (await readFile(marker, 'utf8')).trim() === '') await new Promise((r) => setTimeout(r, 20));
    const dumpPid = Number((await readFile(marker, 'utf8')).trim());
    expect((await processesMentioning(tools)).map((p) => p.pid)).toContain(dumpPid);
    run.child.kill('SIGKILL');
    await run.done;
    expect(await untilNoProcessMentions(tools)).toEqual([]);
    const left = await leftoversIn(dir);
    expect(left.some((n) => n.startsWith('.ferry-tmp-'))).toBe(true);

    const next = await ferry(['backup', '--json'], { DATABASE_URL: pgUrl(db), BACKUP_DIRECTORY: dir });
    expect(next.code, next.stderr).toBe(0);
    const reported = (JSON.parse(next.stdout) as { leftoversRemoved: Array<{ path: string; bytes: number }> }).leftoversRemoved.map((l) => l.path);
    expect(reported.sort()).toEqual(left.map((n) => join(dir, n)).sort());
    expect(next.stderr).toMatch(/removed what an interrupted run left/);
    expect(await leftoversIn(dir)).toEqual([]);
  });

  it(`at ${KILLS} seeded moments: no unverifiable archive under a final name, no older backup lost, no orphan, the next run succeeds and cleans up`, async () => {
    const work = await tempDir();
    const db = await sourceDatabase();
    const uploads = await uploadsFolder(work);
    const dir = join(work, 'backups');
    const env = { DATABASE_URL: pgUrl(db), UPLOADS_DIR: uploads, BACKUP_DIRECTORY: dir, BACKUP_RETENTION_DAYS: '36500' };

    const timed = Date.now();
    const first = await ferry(['backup'], env);
    expect(first.code, first.stderr).toBe(0);
    const fullRun = Date.now() - timed;

    const seed = crashSeed('backup crash points');
    const random = seededRandom(seed);
    const verified = new Set(await archives(dir));
    const outcomes: string[] = [];
    let healthSawLeftovers = false;
    for (let i = 0; i < KILLS; i++) {
      // One moment in each slice of the run, so the kills cover it from start-up to the rename.
      const delay = Math.round(((i + random()) / KILLS) * fullRun * 1.05);
      const before = await archives(dir);
      const run = startFerry(['backup'], env);
      const timer = setTimeout(() => run.child.kill('SIGKILL'), delay);
      const result = await run.done;
      clearTimeout(timer);
      outcomes.push(`${delay}ms:${result.code ?? 'killed'}`);
      const context = `seed ${seed}, kill ${i} at ${delay} ms`;

      expect(await untilNoProcessMentions(dir), context).toEqual([]);
      const after = await archives(dir);
      expect(after.filter((n) => !before.includes(n)).length, context).toBeLessThanOrEqual(1);
      for (const name of before) expect(after, `${context}: ${name} was removed`).toContain(name);
      for (const name of after.filter((n) => !verified.has(n))) {
        const check = await ferry(['verify', join(dir, name)], env);
        expect(check.code, `${context}: ${name} under its final name does not verify: ${check.stdout}${check.stderr}`).toBe(0);
        verified.add(name);
      }

      const left = await leftoversIn(dir);
      outcomes[i] += `:${left.length} left`;
      if (left.length > 0 && !healthSawLeftovers) {
        const health = await ferry(['health', '--quick'], env);
        expect(health.stdout, context).toMatch(new RegExp(`\\[WARNING\\]\\s+leftovers: ${left.length} left by interrupted runs, `));
        healthSawLeftovers = true;
      }
      const next = await ferry(['backup', '--json'], env);
      expect(next.code, `${context}: the next backup failed: ${next.stderr}`).toBe(0);
      const reported = (JSON.parse(next.stdout) as { leftoversRemoved: Array<{ path: string }>; archive: string }).leftoversRemoved.map((l) => l.path);
      expect(reported.sort(), context).toEqual(left.map((n) => join(dir, n)).sort());
      expect(await leftoversIn(dir), context).toEqual([]);
      verified.add((JSON.parse(next.stdout) as { archive: string }).archive.split('/').at(-1) as string);
    }
    console.log(`backup crash points (seed ${seed}, full run ${fullRun} ms): ${outcomes.join(' ')}`);
    // The kills must have hit the run, not only its start or its end.
    expect(outcomes.filter((o) => o.includes(':killed')).length).toBeGreaterThanOrEqual(KILLS / 2);
  }, 240_000);
});
