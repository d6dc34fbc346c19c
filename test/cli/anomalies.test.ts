import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { MongoClient } from 'mongodb';
import { SMTPServer } from 'smtp-server';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findAnomalies, type StoreCounts } from '../../src/health/anomalies.js';
import { ferry } from '../support/cli.js';
import { createDatabase, pgUrl, query, uniqueName } from '../support/pg.js';
import { MongoTestServer } from '../support/mongo/server.js';
import { parsePrometheusText } from '../support/prometheus.js';
import { tempDir } from '../support/tmp.js';

describe('anomalies in the data', () => {
  it('a drop counts only over both thresholds; a vanished object counts when most earlier backups had it', () => {
    const earlier: StoreCounts[] = [{ pg: { a: 5000, b: 1500, c: 10 } }, { pg: { a: 5100, b: 1500, c: 10 } }, { pg: { a: 4900, b: 1500 } }];
    expect(findAnomalies({ pg: { a: 2000, b: 400, c: 10 } }, earlier)).toEqual([
      { store: 'pg', object: 'a', before: 5000, after: 2000, disappeared: false },
      { store: 'pg', object: 'b', before: 1500, after: 400, disappeared: false },
    ]);
    // 1500 → 800: over 1000? no. 5000 → 2600: under half? no.
    expect(findAnomalies({ pg: { a: 2600, b: 800, c: 10 } }, earlier)).toEqual([]);
    expect(findAnomalies({ pg: { a: 5000, b: 1500 } }, earlier)).toEqual([{ store: 'pg', object: 'c', before: 10, after: 0, disappeared: true }]);
    expect(findAnomalies({ pg: { a: 1 } }, [])).toEqual([]);
  });

  it('a backup after DELETE FROM most of a table: health WARNING naming the table with both counts, and the metric', async () => {
    const work = await tempDir();
    const db = await createDatabase(uniqueName('anom'));
    await query(db, "CREATE TABLE recipes (id int PRIMARY KEY, title text); INSERT INTO recipes SELECT i, 'r' || i FROM generate_series(1, 3000) i; CREATE TABLE tags (id int); INSERT INTO tags SELECT generate_series(1, 50);");
    const env = { DATABASE_URL: pgUrl(db), BACKUP_DIRECTORY: join(work, 'backups') };
    for (let i = 0; i < 3; i++) {
      expect((await ferry(['backup'], env)).code).toBe(0);
      await new Promise((r) => setTimeout(r, 1100));
    }
    const normal = await ferry(['health'], env);
    expect(normal.stdout).toMatch(/\[OK\]\s+anomalies: no count fell sharply against the median of 2 backups/);
    await query(db, 'DELETE FROM recipes WHERE id > 120');
    expect((await ferry(['backup'], env)).code).toBe(0);
    const metrics = join(work, 'ferry.prom');
    const health = await ferry(['health', '--metrics-file', metrics], env);
    expect(health.code, health.stdout).toBe(1);
    expect(health.stdout).toMatch(/\[WARNING\]\s+anomalies: postgres public\.recipes 3000 → 120, against the median of 3 backups, backup_\d{8}_\d{6}\.tar\.gz to backup_\d{8}_\d{6}\.tar\.gz$/m);
    const samples = parsePrometheusText(readFileSync(metrics, 'utf8'));
    expect(samples.get('ferry_backup_anomalies{location="local"}')).toBe(1);
    expect(samples.get('ferry_backup_anomalies{location="local",store="postgres",object="public.recipes"}')).toBe(1);
    const json = JSON.parse((await ferry(['health', '--json'], env)).stdout) as { anomalies: { found: Array<{ object: string; before: number; after: number }> } };
    expect(json.anomalies.found).toEqual([{ store: 'postgres', object: 'public.recipes', before: 3000, after: 120, disappeared: false }]);

    // Retention keeps the last normal backup while rules alone would remove it.
    const names = readdirSync(join(work, 'backups')).filter((n) => /^backup_\d{8}_\d{6}\.tar\.gz$/.test(n)).sort();
    const lastNormal = names.at(-2) as string;
    const plan = await ferry(['prune', '--dry-run', '--keep-days', '0', '--keep-last', '1'], env);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toMatch(new RegExp(`${lastNormal.replace(/\./g, '\\.')}.*last normal backup before ${names.at(-1)?.replace(/\./g, '\\.')} \\(postgres public\\.recipes: 3000 → 120\\)`));
    expect(plan.stdout).toMatch(new RegExp(`${names[0]?.replace(/\./g, '\\.')}`));

    // Mailed once for this backup, not at every health run.
    const mails: string[] = [];
    const server = new SMTPServer({
      authOptional: true, disabledCommands: ['STARTTLS'], logger: false,
      onData(stream, _session, callback) {
        let raw = '';
        stream.setEncoding('utf8');
        stream.on('data', (chunk: string) => (raw += chunk));
        stream.on('end', () => {
          mails.push(raw);
          callback();
        });
      },
    });
    const port = await new Promise<number>((resolvePort) => server.listen(0, '127.0.0.1', () => resolvePort((server.server.address() as { port: number }).port)));
    try {
      const config = join(work, 'notify.yaml');
      writeFileSync(config, `notify:\n  timeout_seconds: 5\n  smtp:\n    host: 127.0.0.1\n    port: ${port}\n    security: none\n    from: ferry@grimoire.example\n    to: [ops@grimoire.example]\n`);
      for (let i = 0; i < 2; i++) expect((await ferry(['--config', config, 'health'], env)).code).toBe(1);
      expect(mails).toHaveLength(1);
      expect(mails[0]!.replace(/=\r?\n/g, '')).toMatch(/public\.recipes 3000 =E2=86=92 120|public\.recipes 3000 → 120/);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('per-table rules: a table expected to shrink passes, another in the same backup and a stricter threshold warn, a typo is named, retention follows the same rules', async () => {
    const work = await tempDir();
    const db = await createDatabase(uniqueName('anomrules'));
    await query(db, [
      'CREATE TABLE sessions (id int PRIMARY KEY); INSERT INTO sessions SELECT generate_series(1, 3000);',
      'CREATE TABLE recipes (id int PRIMARY KEY); INSERT INTO recipes SELECT generate_series(1, 3000);',
      'CREATE TABLE audit_log (id int PRIMARY KEY); INSERT INTO audit_log SELECT generate_series(1, 400);',
    ].join(' '));
    const env = { DATABASE_URL: pgUrl(db), BACKUP_DIRECTORY: join(work, 'backups') };
    const config = join(work, 'ferry.config.yaml');
    writeFileSync(config, [
      'health:',
      '  anomalies:',
      '    postgres:',
      '      public.sessions: { shrink: expected }',
      '      audit_log: { max_drop_percent: 20, max_drop_count: 50 }',
      '      public.recipies: { max_drop_percent: 90 }',
      '',
    ].join('\n'));
    const backupNow = async () => {
      expect((await ferry(['backup'], env)).code).toBe(0);
      await new Promise((r) => setTimeout(r, 1100));
    };
    for (let i = 0; i < 3; i++) await backupNow();

    // Only the table expected to shrink lost 95 %: OK with the rule, a WARNING without it.
    await query(db, 'DELETE FROM sessions WHERE id > 150');
    await backupNow();
    const expected = await ferry(['--config', config, 'health'], env);
    expect(expected.code, expected.stdout + expected.stderr).toBe(0);
    expect(expected.stdout).toMatch(/\[OK\]\s+anomalies: no count fell sharply/);
    const unruled = await ferry(['health'], env);
    expect(unruled.code).toBe(1);
    expect(unruled.stdout).toMatch(/\[WARNING\]\s+anomalies: postgres public\.sessions 3000 → 150,/);
    // The typo: a warning naming it, on stderr and beside the check; never a WARNING state.
    expect(expected.stderr).toMatch(/warning: health\.anomalies\.postgres: public\.recipies: none of the backups compared holds it/);
    expect(expected.stdout).toMatch(/→ No backup compared holds health\.anomalies\.postgres: public\.recipies: check the spelling/);
    expect(expected.stderr).not.toMatch(/sessions|audit_log/);

    // In one backup: sessions 95 % down again against the median, recipes 95 % down, audit_log 30 % (120 rows) down.
    await query(db, 'DELETE FROM recipes WHERE id > 150; DELETE FROM audit_log WHERE id > 280');
    await backupNow();
    const json = JSON.parse((await ferry(['--config', config, 'health', '--json'], env)).stdout) as { exitCode: number; anomalies: { found: Array<{ object: string; before: number; after: number }>; unmatched: string[] } };
    expect(json.exitCode).toBe(1);
    expect(json.anomalies.found).toEqual([
      { store: 'postgres', object: 'public.recipes', before: 3000, after: 150, disappeared: false },
      { store: 'postgres', object: 'public.audit_log', before: 400, after: 280, disappeared: false },
    ]);
    expect(json.anomalies.unmatched).toEqual(['health.anomalies.postgres: public.recipies']);
    const text = await ferry(['--config', config, 'health'], env);
    expect(text.stdout).toMatch(/\[WARNING\]\s+anomalies: postgres public\.recipes 3000 → 150; postgres public\.audit_log 400 → 280, against the median of 4 backups/);
    // The global thresholds alone (120 rows is under 1,000) do not see audit_log.
    expect((await ferry(['health'], env)).stdout).not.toMatch(/audit_log/);

    // Retention: the sessions-only backup protects nothing under the rules; the recipes one protects its predecessor.
    const names = readdirSync(join(work, 'backups')).filter((n) => /^backup_\d{8}_\d{6}\.tar\.gz$/.test(n)).sort();
    expect(names).toHaveLength(5);
    const plan = async (extra: string[]) => {
      const result = await ferry([...extra, 'prune', '--dry-run', '--json', '--keep-days', '0', '--keep-last', '1'], env);
      expect(result.code, result.stderr).toBe(0);
      const parsed = JSON.parse(result.stdout) as { keep: Array<{ name: string; reasons: string[] }> };
      return new Map(parsed.keep.map((k) => [k.name, k.reasons.join(', ')]));
    };
    const ruled = await plan(['--config', config]);
    expect(ruled.get(names[3]!)).toMatch(new RegExp(`last normal backup before ${names[4]!.replace(/\./g, '\\.')} \\(postgres public\\.recipes: 3000 → 150, and 1 more\\)`));
    expect(ruled.has(names[2]!)).toBe(false);
    const global = await plan([]);
    expect(global.get(names[2]!)).toMatch(/last normal backup before .* \(postgres public\.sessions: 3000 → 150\)/);
    expect(global.get(names[3]!)).toMatch(/last normal backup before .* \(postgres public\.(recipes|sessions): 3000 → 150, and 1 more\)/);
  });

  it('per-collection and uploads rules: a collection expected to shrink passes, another and the uploads under their own threshold warn, a typo is named', async () => {
    const server = new MongoTestServer();
    const url = await server.start();
    const client = new MongoClient(url);
    try {
      const work = await tempDir();
      const uploads = join(work, 'uploads');
      mkdirSync(uploads);
      for (let i = 0; i < 40; i++) writeFileSync(join(uploads, `photo-${i}.jpg`), `image ${i}`);
      const db = client.db('grimoire');
      const docs = Array.from({ length: 3000 }, (_, i) => ({ n: i }));
      await db.collection('events').insertMany(docs);
      await db.collection('recipes').insertMany(docs);
      const env = { MONGODB_URL: `${url.replace(/\/$/, '')}/grimoire`, UPLOADS_DIR: uploads, BACKUP_DIRECTORY: join(work, 'backups') };
      const config = join(work, 'ferry.config.yaml');
      writeFileSync(config, [
        'health:', '  anomalies:', '    mongodb:', '      events: { shrink: expected }', '      recipe: { max_drop_percent: 10 }',
        '    uploads:', '      files: { max_drop_percent: 10, max_drop_count: 5 }', '',
      ].join('\n'));
      for (let i = 0; i < 3; i++) {
        const made = await ferry(['--config', config, 'backup'], env);
        expect(made.code, made.stderr).toBe(0);
        await new Promise((r) => setTimeout(r, 1100));
      }
      // The test server has no delete: each collection is dropped and filled again with 5 % of its documents.
      for (const name of ['events', 'recipes']) {
        await db.collection(name).drop();
        await db.collection(name).insertMany(docs.slice(0, 150));
      }
      for (let i = 0; i < 10; i++) rmSync(join(uploads, `photo-${i}.jpg`));
      expect((await ferry(['--config', config, 'backup'], env)).code).toBe(0);

      const health = await ferry(['--config', config, 'health', '--json'], env);
      const json = JSON.parse(health.stdout) as { exitCode: number; anomalies: { found: unknown[]; unmatched: string[] } };
      expect(json.exitCode).toBe(1);
      expect(json.anomalies.found).toEqual([
        { store: 'mongo', object: 'recipes', before: 3000, after: 150, disappeared: false },
        { store: 'uploads', object: 'files', before: 40, after: 30, disappeared: false },
      ]);
      expect(json.anomalies.unmatched).toEqual(['health.anomalies.mongodb: recipe']);
      expect(health.stderr).toMatch(/warning: health\.anomalies\.mongodb: recipe: none of the backups compared holds it/);
      // Without the rules: events warns too, and 10 files are under the global 1,000.
      const global = JSON.parse((await ferry(['health', '--json'], env)).stdout) as { anomalies: { found: Array<{ object: string }> } };
      expect(global.anomalies.found.map((a) => a.object).sort()).toEqual(['events', 'recipes']);
    } finally {
      await client.close();
      await server.stop();
    }
  });
});
