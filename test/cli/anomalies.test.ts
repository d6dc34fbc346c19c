import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { SMTPServer } from 'smtp-server';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findAnomalies, type StoreCounts } from '../../src/health/anomalies.js';
import { ferry } from '../support/cli.js';
import { createDatabase, pgUrl, query, uniqueName } from '../support/pg.js';
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
});
