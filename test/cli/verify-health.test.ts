import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { archiveNameFor } from '../../src/archive/naming.js';
import { flipByteInEntry, replaceEntry } from '../support/archive-edit.js';
import { ferry } from '../support/cli.js';
import { backedUpDatabase } from '../support/backed-up.js';
import { pgUrl } from '../support/pg.js';
import { parsePrometheusText } from '../support/prometheus.js';
import { missing } from '../support/needs.js';

function backedUp() {
  return backedUpDatabase('vh', "CREATE TABLE recipes (id int PRIMARY KEY, title text); INSERT INTO recipes SELECT i, repeat('recette ', 20) || i FROM generate_series(1, 2000) i;");
}

/** Renames an archive and its sidecars to the name a backup taken `hours` ago would have. */
function age(dir: string, name: string, hours: number): string {
  const older = archiveNameFor(new Date(Date.now() - hours * 3_600_000));
  for (const n of readdirSync(dir).filter((f) => f.startsWith(name))) renameSync(join(dir, n), join(dir, older + n.slice(name.length)));
  return older;
}

describe('ferry verify', () => {
  it('proves a whole archive, remembers it beside the archive, and list shows it', async () => {
    const { env, name, dir } = await backedUp();
    expect(existsSync(join(dir, `${name}.verify.json`))).toBe(true);
    rmSync(join(dir, `${name}.verify.json`));
    const result = await ferry(['verify', 'latest', '--json'], env);
    expect(result.code, result.stderr).toBe(0);
    const report = (JSON.parse(result.stdout) as { archives: Array<{ ok: boolean; entries: Array<{ path: string; ok: boolean }>; findings: unknown[] }> }).archives[0]!;
    expect(report.ok).toBe(true);
    expect(report.entries.map((e) => e.path)).toEqual(['postgresql/database.backup', 'postgresql/database.sql', 'backup_info.txt']);
    expect(JSON.parse(readFileSync(join(dir, `${name}.verify.json`), 'utf8'))).toMatchObject({ ok: true, findings: [] });
    const listed = await ferry(['list'], env);
    expect(listed.stdout).toMatch(new RegExp(`${name}.*complete\\s+ok \\S+ \\S+ ago`));
  });

  it('a flipped byte: exit 2, the entry named; health --deep CRITICAL', async () => {
    const { env, archive, name } = await backedUp();
    flipByteInEntry(archive, 'postgresql/database.sql');
    const result = await ferry(['verify', name], env);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^ferry: backup_\d+_\d+\.tar\.gz is not whole: entry postgresql\/database\.sql does not match its checksum/m);
    expect(result.stdout).toMatch(/postgresql\/\s+\d entries, .*1 BAD/);
    const health = await ferry(['health', '--deep'], env);
    expect(health.code).toBe(2);
    expect(health.stdout).toMatch(/^FERRY CRITICAL - backup_\d+_\d+\.tar\.gz is not whole: entry postgresql\/database\.sql does not match/);
    // The failed verification is remembered, so even the quick check now reports it.
    expect((await ferry(['health'], env)).code).toBe(2);
  });

  it('a truncated archive: exit 2 with the compressed offset', async () => {
    const { env, archive } = await backedUp();
    truncateSync(archive, Math.floor(readFileSync(archive).length * 0.7));
    const result = await ferry(['verify', 'latest'], env);
    expect(result.code, result.stdout + result.stderr).toBe(2);
    expect(result.stdout).toMatch(/problem: archive .* is damaged.*: unexpected end of file \(found within the first \d+ compressed bytes\)/);
    expect((await ferry(['health', '--deep'], env)).code).toBe(2);
  });

  it('a dump cut short but with a consistent checksum is caught by reading it to the end', async () => {
    const { env, archive } = await backedUp();
    const x = join(archive, '..', '..', 'y');
    execFileSync('mkdir', ['-p', x]);
    execFileSync('tar', ['-xzf', archive, '-C', x]);
    const dump = readFileSync(join(x, 'postgresql', 'database.backup'));
    const cut = dump.subarray(0, Math.floor(dump.length * 0.6));
    // pg_restore --list accepts the cut dump: its table of contents is at the front.
    writeFileSync(join(x, 'cut.backup'), cut);
    expect(spawnSync('pg_restore', ['--list', join(x, 'cut.backup')]).status).toBe(0);
    replaceEntry(archive, 'postgresql/database.backup', cut);
    const result = await ferry(['verify', 'latest'], env);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^ferry: .* is not whole: postgresql\/database\.backup: pg_restore cannot read it: /m);
  });

  it('a missing entry: exit 2', async () => {
    const { env, archive } = await backedUp();
    const x = join(archive, '..', '..', 'z');
    execFileSync('mkdir', ['-p', x]);
    execFileSync('tar', ['-xzf', archive, '-C', x]);
    execFileSync('tar', ['-czf', archive, '-C', x, 'postgresql/database.backup', 'backup_info.txt', 'manifest.json']);
    const result = await ferry(['verify', 'all'], env);
    expect(result.code).toBe(2);
    expect(result.stdout).toMatch(/problem: entry postgresql\/database\.sql is listed in the manifest but not in the archive/);
  });
});

describe('ferry health', () => {
  it('fresh → 0, 30 hours old → 1, 3 days old → 2, empty directory → 2 (CRITICAL: nothing there)', async () => {
    const { env, dir, name } = await backedUp();
    const fresh = await ferry(['health'], env);
    expect(fresh.code, fresh.stdout).toBe(0);
    expect(fresh.stdout).toMatch(/^FERRY OK - last backup \d+(\.\d)? m?s ago, \d+(\.\d)? KB, verified$/m);
    const older = age(dir, name, 30);
    const stale = await ferry(['health'], env);
    expect(stale.code).toBe(1);
    expect(stale.stdout).toMatch(/^FERRY WARNING - last backup 30 h ago, over 26 h$/m);
    expect(stale.stdout).toMatch(/→ The last scheduled backup is missing/);
    age(dir, older, 72);
    expect((await ferry(['health'], env)).code).toBe(2);
    execFileSync('mkdir', ['-p', join(dir, 'empty')]);
    const empty = await ferry(['health', '--json'], { ...env, BACKUP_DIRECTORY: join(dir, 'empty') });
    expect(empty.code).toBe(2);
    expect(JSON.parse(empty.stdout)).toMatchObject({ status: 'CRITICAL', exitCode: 2 });
  });

  it('a backup directory that does not exist or cannot be read is UNKNOWN (3), with the metric saying so', async () => {
    const { env, dir, work } = await backedUp();
    const metrics = join(work, 'ferry.prom');
    const missing = await ferry(['health', '--metrics-file', metrics], { ...env, BACKUP_DIRECTORY: join(dir, 'none') });
    expect(missing.code, missing.stdout).toBe(3);
    expect(missing.stdout).toMatch(/^FERRY UNKNOWN - backup directory .*none does not exist$/m);
    expect(parsePrometheusText(readFileSync(metrics, 'utf8')).get('ferry_health_status{location="local"}')).toBe(3);
    // Tests run as root, which reads any directory: a regular file in its place cannot be read as one.
    writeFileSync(join(work, 'not-a-dir'), '');
    const unreadable = await ferry(['health'], { ...env, BACKUP_DIRECTORY: join(work, 'not-a-dir') });
    expect(unreadable.code, unreadable.stdout).toBe(3);
    expect(unreadable.stdout).toMatch(/^FERRY UNKNOWN - backup directory .*not-a-dir cannot be read \(ENOTDIR\)$/m);
  });

  it('re-reads the newest archive against its .sha256 on every run: a flipped byte → CRITICAL without --deep; --quick skips it', async () => {
    const { env, archive } = await backedUp();
    const fine = await ferry(['health'], env);
    expect(fine.code, fine.stdout).toBe(0);
    expect(fine.stdout).toMatch(/\[OK\]\s+integrity: sha256 matches its \.sha256 sidecar, \d+(\.\d)? KB re-read in \d+(\.\d)? m?s; verified /);
    const bytes = readFileSync(archive);
    bytes.writeUInt8(bytes.readUInt8(500) ^ 0x01, 500);
    writeFileSync(archive, bytes);
    const flipped = await ferry(['health'], env);
    expect(flipped.code, flipped.stdout).toBe(2);
    expect(flipped.stdout).toMatch(/^FERRY CRITICAL - backup_\d+_\d+\.tar\.gz does not match its \.sha256: its bytes have sha256 [0-9a-f]{12}…, its \.sha256 sidecar says [0-9a-f]{12}…$/m);
    const quick = await ferry(['health', '--quick'], env);
    expect(quick.code, quick.stdout).toBe(0);
    expect(quick.stdout).not.toMatch(/re-read/);
  });

  it('a configured store missing from the newest backup → 2; low free space by threshold → 1; config error → 3', async () => {
    const { env } = await backedUp();
    const lacks = await ferry(['health'], { ...env, UPLOADS_DIR: '/srv/uploads' });
    expect(lacks.code).toBe(2);
    expect(lacks.stdout).toMatch(/^FERRY CRITICAL - newest backup lacks uploads \(configured here\)$/m);
    const space = await ferry(['health', '--space-margin', '1000000000'], env);
    expect(space.code).toBe(1);
    expect(space.stdout).toMatch(/\[WARNING\]\s+space: .* free in .*, under 1000000000× the last backup/);
    const broken = await ferry(['health'], { ...env, BACKUP_RETENTION_DAYS: 'soon' });
    expect(broken.code).toBe(3);
    expect(broken.stdout).toMatch(/^FERRY UNKNOWN - environment variable BACKUP_RETENTION_DAYS/m);
  });

  it('writes the metrics file atomically, as valid Prometheus text, from health and from backup (failed runs too)', async () => {
    const { env, work } = await backedUp();
    const metrics = join(work, 'ferry.prom');
    const reads: string[] = [];
    const writers = Array.from({ length: 5 }, () => ferry(['health', '--metrics-file', metrics], env));
    const reader = (async () => {
      for (let i = 0; i < 200; i++) {
        if (existsSync(metrics)) reads.push(readFileSync(metrics, 'utf8'));
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    await Promise.all([...writers, reader]);
    for (const text of reads) parsePrometheusText(text);
    const samples = parsePrometheusText(readFileSync(metrics, 'utf8'));
    expect(samples.get('ferry_health_status{location="local"}')).toBe(0);
    expect(samples.get('ferry_backup_archives{location="local"}')).toBe(1);
    expect(samples.get('ferry_backup_store_items{location="local",store="postgres"}')).toBe(2000);
    expect(readdirSync(work).filter((n) => n.includes('.tmp'))).toEqual([]);
    if (!missing('promtool (Debian package prometheus)', spawnSync('promtool', ['--version']).status === 0)) {
      const lint = spawnSync('promtool', ['check', 'metrics'], { input: readFileSync(metrics), encoding: 'utf8' });
      expect(lint.status, lint.stdout + lint.stderr).toBe(0);
    }

    const failed = await ferry(['backup', '--metrics-file', metrics], { ...env, DATABASE_URL: pgUrl('no_such_database') });
    expect(failed.code).toBe(1);
    const after = parsePrometheusText(readFileSync(metrics, 'utf8'));
    expect(after.get('ferry_backup_last_run_success{location="local"}')).toBe(0);
    expect(after.get('ferry_backup_archives{location="local"}')).toBe(1);
  });

  it('ships alert rules that promtool accepts', async (context) => {
    if (missing('promtool (Debian package prometheus)', spawnSync('promtool', ['--version']).status === 0)) {
      context.skip('promtool is not installed (Debian package prometheus)');
      return;
    }
    const rules = new URL('../../docs/alerts/ferry.rules.yml', import.meta.url).pathname;
    const result = spawnSync('promtool', ['check', 'rules', rules], { encoding: 'utf8' });
    expect(result.status, result.stdout + result.stderr).toBe(0);
  });
});

describe('prune keeps away from what Ferry did not write', () => {
  it('leaves foreign files and links alone, even links named like backups', async () => {
    const { env, dir, name, work } = await backedUp();
    const outside = join(work, 'precious.tar.gz');
    writeFileSync(outside, 'not a backup');
    const linkName = archiveNameFor(new Date(Date.now() - 90 * 86_400_000));
    symlinkSync(outside, join(dir, linkName));
    copyFileSync(join(dir, name), join(dir, 'manual-copy.tar.gz'));
    const result = await ferry(['prune', '--keep-days', '1', '--json'], env);
    expect(result.code, result.stderr).toBe(0);
    const plan = JSON.parse(result.stdout) as { remove: unknown[]; foreign: string[] };
    expect(plan.remove).toEqual([]);
    expect(plan.foreign.sort()).toEqual([linkName, 'manual-copy.tar.gz'].sort());
    expect(readFileSync(outside, 'utf8')).toBe('not a backup');
    expect(existsSync(join(dir, linkName))).toBe(true);
  });
});
