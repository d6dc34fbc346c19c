import { copyFileSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ferry } from '../support/cli.js';
import { createDatabase, pgUrl, query, uniqueName } from '../support/pg.js';
import { tempDir } from '../support/tmp.js';

interface Listed { backups: Array<{ name: string }>; foreign: string[] }

describe('backup_latest.tar.gz', () => {
  it('follows the newest archive as relative links, is never counted twice, and an scp copy elsewhere restores as latest', async () => {
    const work = await tempDir();
    const db = await createDatabase(uniqueName('latest'));
    await query(db, 'CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 50);');
    const uploads = join(work, 'uploads');
    mkdirSync(join(uploads, 'images'), { recursive: true });
    writeFileSync(join(uploads, 'images', 'tarte.jpg'), Buffer.alloc(2048, 7));
    const dir = join(work, 'backups');
    const env = { DATABASE_URL: pgUrl(db), UPLOADS_DIR: uploads, BACKUP_DIRECTORY: dir };
    const archives = () => readdirSync(dir).filter((n) => /^backup_\d{8}_\d{6}\.tar\.gz$/.test(n)).sort();

    expect((await ferry(['backup'], env)).code).toBe(0);
    expect(readlinkSync(join(dir, 'backup_latest.tar.gz'))).toBe(archives()[0]);
    await new Promise((r) => setTimeout(r, 1100));
    expect((await ferry(['backup'], env)).code).toBe(0);
    const newest = archives()[1] as string;
    for (const suffix of ['', '.sha256', '.manifest.json', '.verify.json']) {
      expect(readlinkSync(join(dir, `backup_latest.tar.gz${suffix}`)), suffix).toBe(newest + suffix);
    }

    const listed = JSON.parse((await ferry(['list', '--json'], env)).stdout) as Listed;
    expect(listed.backups.map((b) => b.name)).toEqual([...archives()].reverse());
    expect(listed.foreign).toEqual([]);
    const pruned = JSON.parse((await ferry(['prune', '--dry-run', '--json'], env)).stdout) as { foreign: string[] };
    expect(pruned.foreign).toEqual([]);
    const all = JSON.parse((await ferry(['verify', 'all', '--json'], env)).stdout) as { archives: unknown[] };
    expect(all.archives).toHaveLength(2);
    const byLink = await ferry(['verify', 'backup_latest.tar.gz'], env);
    expect(byLink.code, byLink.stderr).toBe(0);
    expect(byLink.stdout).toMatch(new RegExp(`^${newest.replace(/\./g, '\\.')}: OK`));
    // Recorded beside the archive itself; the link stays a link.
    expect(lstatSync(join(dir, 'backup_latest.tar.gz.verify.json')).isSymbolicLink()).toBe(true);
    const health = await ferry(['health'], env);
    expect(health.code, health.stdout).toBe(0);

    // What `scp prod:…/backups/backup_latest.tar.gz .` leaves: a regular file, no sidecars.
    const elsewhere = join(work, 'laptop');
    mkdirSync(elsewhere);
    copyFileSync(join(dir, 'backup_latest.tar.gz'), join(elsewhere, 'backup_latest.tar.gz'));
    expect(lstatSync(join(elsewhere, 'backup_latest.tar.gz')).isFile()).toBe(true);
    const there = { BACKUP_DIRECTORY: elsewhere, UPLOADS_DIR: join(work, 'dev-uploads') };
    const copyListed = JSON.parse((await ferry(['list', '--json'], there)).stdout) as Listed;
    expect(copyListed.backups.map((b) => b.name)).toEqual(['backup_latest.tar.gz']);
    const restored = await ferry(['restore', 'latest', '--only', 'uploads', '--yes'], there);
    expect(restored.code, restored.stdout + restored.stderr).toBe(0);
    expect(readFileSync(join(work, 'dev-uploads', 'images', 'tarte.jpg'))).toEqual(Buffer.alloc(2048, 7));
    const verified = await ferry(['verify', 'latest'], there);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);

    // The copy beside its own timestamped name is that backup, counted once.
    copyFileSync(join(dir, newest), join(elsewhere, newest));
    const both = JSON.parse((await ferry(['list', '--json'], there)).stdout) as Listed;
    expect(both.backups.map((b) => b.name)).toEqual([newest]);
  });
});
