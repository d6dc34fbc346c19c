import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ferry } from '../support/cli.js';
import { createDatabase, pgUrl, query, uniqueName } from '../support/pg.js';
import { tempDir } from '../support/tmp.js';

interface Manifest { compression?: { codec: string; level: number }; entries: Array<{ path: string; type: string; sha256?: string }> }

const ARCHIVE = /^backup_\d{8}_\d{6}\.tar\.(gz|zst)$/;
const nodeHasZstd = typeof (zlib as unknown as { createZstdCompress?: unknown }).createZstdCompress === 'function';

async function appWithData(work: string): Promise<{ db: string; env: Record<string, string> }> {
  const db = await createDatabase(uniqueName('zstd'));
  await query(db, `CREATE TABLE recipes (id serial PRIMARY KEY, title text, instructions text);
    INSERT INTO recipes (title, instructions) SELECT 'recette ' || i, repeat('Mélanger la farine et le beurre. ', 40) FROM generate_series(1, 3000) i;`);
  const uploads = join(work, 'uploads');
  mkdirSync(join(uploads, 'images'), { recursive: true });
  writeFileSync(join(uploads, 'images', 'tarte.jpg'), createHash('sha256').update('tarte').digest());
  writeFileSync(join(uploads, 'ocr.txt'), 'farine 200 g\n'.repeat(500));
  return { db, env: { DATABASE_URL: pgUrl(db), UPLOADS_DIR: uploads, BACKUP_DIRECTORY: join(work, 'backups') } };
}

describe('zstd archives (backup.compression: zstd)', () => {
  it('writes .tar.zst with an uncompressed dump, which tar --zstd and zstd -dc open, and which verifies and restores', async () => {
    const work = await tempDir();
    const { db, env } = await appWithData(work);
    const dir = env.BACKUP_DIRECTORY as string;

    expect((await ferry(['backup'], env)).code).toBe(0);
    expect(readlinkSync(join(dir, 'backup_latest.tar.gz'))).toMatch(/\.tar\.gz$/);
    await new Promise((r) => setTimeout(r, 1100));
    const made = await ferry(['backup'], { ...env, FERRY_BACKUP_COMPRESSION: 'zstd' });
    expect(made.code, made.stderr).toBe(0);
    const names = readdirSync(dir).filter((n) => ARCHIVE.test(n)).sort();
    expect(names.map((n) => ARCHIVE.exec(n)?.[1])).toEqual(['gz', 'zst']);
    const zst = names[1] as string;
    expect(readFileSync(join(dir, zst)).subarray(0, 4)).toEqual(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]));
    // "latest" names one archive: the gzip links are gone.
    expect(readlinkSync(join(dir, 'backup_latest.tar.zst'))).toBe(zst);
    expect(() => lstatSync(join(dir, 'backup_latest.tar.gz'))).toThrow();

    const manifest = JSON.parse(readFileSync(join(dir, `${zst}.manifest.json`), 'utf8')) as Manifest;
    expect(manifest.compression).toEqual({ codec: 'zstd', level: 3 });

    // By hand, both ways the docs give; every file's sha256 is the manifest's.
    for (const [how, extract] of [
      ['tar --zstd', (to: string) => execFileSync('tar', ['--zstd', '-xf', join(dir, zst), '-C', to])],
      ['zstd -dc | tar', (to: string) => execFileSync('sh', ['-c', 'zstd -dc "$1" | tar -xf - -C "$2"', 'sh', join(dir, zst), to])],
    ] as const) {
      const to = join(work, how.replace(/\W/g, '_'));
      mkdirSync(to);
      extract(to);
      for (const entry of manifest.entries.filter((e) => e.type === 'file')) {
        expect(createHash('sha256').update(readFileSync(join(to, entry.path))).digest('hex'), `${how}: ${entry.path}`).toBe(entry.sha256);
      }
      // With zstd, pg_dump leaves the dump uncompressed (--compress=0) for the archive to compress once.
      const header = execFileSync('pg_restore', ['--list', join(to, 'postgresql', 'database.backup')]).toString();
      expect(header).toMatch(/Compression: (0|none)/);
      expect(readFileSync(join(to, 'backup_info.txt'), 'utf8')).toContain(`tar --zstd -xf ${zst}`);
    }

    expect((await ferry(['inspect', zst], env)).stdout).toMatch(/archive format 1, zstd level 3/);
    const verified = await ferry(['verify', 'all'], env);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
    const listed = JSON.parse((await ferry(['list', '--json'], env)).stdout) as { backups: Array<{ name: string }>; foreign: string[] };
    expect(listed.backups.map((b) => b.name)).toEqual([...names].reverse());
    expect(listed.foreign).toEqual([]);

    await query(db, 'DELETE FROM recipes WHERE id > 10');
    const restored = await ferry(['restore', zst, '--yes', '--allow-source-target'], env);
    expect(restored.code, restored.stderr).toBe(0);
    expect(await query(db, 'SELECT count(*)::int AS n FROM recipes')).toEqual([{ n: 3000 }]);
  });

  it('a damaged zstd frame fails verify (exit 2) and a restore from it changes nothing', async () => {
    const work = await tempDir();
    const { db, env } = await appWithData(work);
    const dir = env.BACKUP_DIRECTORY as string;
    expect((await ferry(['backup'], { ...env, FERRY_BACKUP_COMPRESSION: 'zstd', FERRY_BACKUP_COMPRESSION_LEVEL: '19' })).code).toBe(0);
    const zst = readdirSync(dir).find((n) => ARCHIVE.test(n)) as string;
    const path = join(dir, zst);
    const bytes = readFileSync(path);
    // A tenth in: inside the dump, which the restore reads (the plain SQL behind it is not read by a restore).
    const early = Math.floor(bytes.length / 10);
    bytes[early] = (bytes[early] as number) ^ 0x5a;
    writeFileSync(path, bytes);
    const verified = await ferry(['verify', zst], env);
    expect(verified.code, verified.stdout + verified.stderr).toBe(2);
    await query(db, 'DELETE FROM recipes WHERE id > 10');
    const restored = await ferry(['restore', zst, '--yes', '--allow-source-target'], env);
    expect(restored.code, restored.stdout + restored.stderr).toBe(2);
    expect(await query(db, 'SELECT count(*)::int AS n FROM recipes')).toEqual([{ n: 10 }]);
  });

  it('a level that gzip does not have is a config error; a machine without zstd says so before any work', async () => {
    const work = await tempDir();
    const { env } = await appWithData(work);
    const gzip12 = await ferry(['backup'], { ...env, FERRY_BACKUP_COMPRESSION_LEVEL: '12' });
    expect(gzip12.code).toBe(3);
    expect(gzip12.stderr).toMatch(/compression_level.*gzip levels are 0–9/);

    // A PATH with no zstd command (and nothing else: the check comes before any tool is needed).
    const emptyPath = join(work, 'bin');
    mkdirSync(emptyPath);
    symlinkSync('/bin/sh', join(emptyPath, 'sh'));
    const without = await ferry(['backup'], { ...env, FERRY_BACKUP_COMPRESSION: 'zstd', PATH: emptyPath });
    if (nodeHasZstd) {
      // This Node compresses zstd itself; the PostgreSQL tools are what is missing.
      expect(without.stderr).not.toMatch(/ZSTD_UNAVAILABLE|zstd is not available/);
    } else {
      expect(without.code).toBe(1);
      expect(without.stderr).toMatch(/zstd is not available: Node .* has no zstd in zlib and no zstd command is on PATH/);
      expect(without.stderr).toMatch(/apt-get install zstd/);
      expect(readdirSync(work)).not.toContain('backups');
    }
  });
});
