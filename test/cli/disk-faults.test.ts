import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { chmod, chown, copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FerryError } from '../../src/errors/index.js';
import { writeSidecar } from '../../src/ops/backup.js';
import { acquireLock } from '../../src/ops/lock.js';
import { cleanEnv, ferry, FERRY_BIN, startFerry } from '../support/cli.js';
import { missing } from '../support/needs.js';
import { createDatabase, pgUrl, query, uniqueName } from '../support/pg.js';
import { tempDir } from '../support/tmp.js';
import { snapshotTree } from '../support/tree.js';

const mounted: string[] = [];

function canMount(): boolean {
  if (process.getuid?.() !== 0) return false;
  const probe = join('/tmp', `ferry-mount-probe-${process.pid}`);
  try {
    execFileSync('mkdir', ['-p', probe]);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe], { stdio: 'ignore' });
    execFileSync('umount', [probe]);
    return true;
  } catch {
    return false;
  } finally {
    execFileSync('rmdir', [probe]);
  }
}

/** A small tmpfs of its own for one test. */
async function smallDisk(size: string): Promise<string> {
  const at = join(await tempDir(), 'disk');
  await mkdir(at);
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', at]);
  mounted.push(at);
  return at;
}

/** Writes until the filesystem has no block left. */
function fill(disk: string): void {
  const chunk = Buffer.alloc(64 * 1024, 1);
  for (let i = 0; ; i++) {
    try {
      writeFileSync(join(disk, `filler-${i}`), chunk);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOSPC') break;
      throw error;
    }
  }
  // The last block: a small write into what is left.
  try {
    writeFileSync(join(disk, 'filler-last'), Buffer.alloc(4096, 1));
  } catch {
    // Already full to the block.
  }
}

afterAll(() => {
  for (const at of mounted.splice(0)) execFileSync('umount', ['-l', at]);
});

async function smallDatabase(): Promise<string> {
  const db = await createDatabase(uniqueName('disk'));
  await query(db, `CREATE TABLE recipes (id serial PRIMARY KEY, title text NOT NULL);
    INSERT INTO recipes (title) SELECT 'recette ' || i FROM generate_series(1, 200) i;`);
  return db;
}

/** An old backup that retention (1 day) would remove if prune ran. */
async function oldBackupIn(dir: string, db: string): Promise<{ old: string; oldBytes: Buffer }> {
  const made = await ferry(['backup'], { DATABASE_URL: pgUrl(db), BACKUP_DIRECTORY: dir, BACKUP_RETENTION_DAYS: '36500' });
  expect(made.code, made.stderr).toBe(0);
  const name = (await readdir(dir)).find((n) => /^backup_\d{8}_\d{6}\.tar\.gz$/.test(n)) as string;
  const old = join(dir, 'backup_20200101_020000.tar.gz');
  for (const suffix of ['', '.sha256', '.manifest.json']) await copyFile(join(dir, name + suffix), old + suffix);
  for (const suffix of ['', '.sha256', '.manifest.json', '.verify.json']) await rm(join(dir, name + suffix), { force: true });
  return { old, oldBytes: await readFile(old) };
}

/** Ferry run as the unprivileged user nobody, for whom permissions count (root ignores them). */
function nobody(args: string[], env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, [FERRY_BIN, ...args], { env: cleanEnv(env), uid: 65534, gid: 65534, stdio: ['ignore', 'pipe', 'pipe'] });
}

async function outputOf(child: ChildProcess): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolveExit) => child.on('close', resolveExit));
  return { code, stdout, stderr };
}

const debris = async (dir: string) => (await readdir(dir)).filter((n) => n.endsWith('.partial') || n.startsWith('.ferry-tmp-') || n.endsWith('.tmp') || n === '.ferry.lock');

describe.skipIf(missing('root and mount (for a small tmpfs)', canMount()))('a full or read-only backup disk', () => {
  it('filled during the backup: DISK_FULL (exit 1), no .partial, the older backup intact, nothing pruned', async () => {
    const disk = await smallDisk('12m');
    const dir = join(disk, 'backups');
    const db = await smallDatabase();
    const { old, oldBytes } = await oldBackupIn(dir, db);
    const uploads = join(await tempDir(), 'uploads');
    await mkdir(uploads);
    for (let i = 0; i < 8; i++) await writeFile(join(uploads, `scan-${i}.bin`), randomBytes(512 * 1024));

    const run = startFerry(['backup', '--json'], { DATABASE_URL: pgUrl(db), UPLOADS_DIR: uploads, BACKUP_DIRECTORY: dir, BACKUP_RETENTION_DAYS: '1' });
    // The disk fills once the archive has started: after the free-space preflight, during the write.
    let filled = false;
    const watching = (async () => {
      while (!filled && run.child.exitCode === null) {
        if ((await readdir(dir)).some((n) => n.endsWith('.partial'))) {
          fill(disk);
          filled = true;
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const result = await run.done;
    await watching;
    expect(filled, 'the disk was filled while the archive was written').toBe(true);
    expect(result.code, result.stderr).toBe(1);
    expect(result.stdout, result.stderr).not.toBe("");
    const error = (JSON.parse(result.stdout) as { error: { code: string; message: string; hint: string } }).error;
    expect(error.code, error.message).toBe('DISK_FULL');
    expect(error.message).toMatch(/^no space left while (writing|staging)/);
    expect(error.hint).toMatch(/nothing was pruned/);
    expect(result.stderr).not.toMatch(/this is a bug/);
    expect(await debris(dir)).toEqual([]);
    expect(await readFile(old)).toEqual(oldBytes);
    expect((await readdir(dir)).filter((n) => /^backup_\d{8}_\d{6}\.tar\.gz$/.test(n))).toEqual(['backup_20200101_020000.tar.gz']);
  });

  it('a stale empty lock left by a full disk does not block the next backup; taking the lock on a full disk is DISK_FULL', async () => {
    const disk = await smallDisk('8m');
    const dir = join(disk, 'backups');
    await mkdir(dir);
    fill(disk);
    const error = await acquireLock(dir, 'backup').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FerryError);
    expect((error as FerryError).code).toBe('DISK_FULL');
    expect((error as FerryError).hint).toMatch(/Free space/);
    // What an older Ferry left when the disk filled as it wrote the lock.
    await writeFile(join(dir, '.ferry.lock'), '');
    for (const name of await readdir(disk)) if (name.startsWith('filler')) await rm(join(disk, name));
    const db = await smallDatabase();
    const result = await ferry(['backup'], { DATABASE_URL: pgUrl(db), BACKUP_DIRECTORY: dir });
    expect(result.code, result.stderr).toBe(0);
    expect(existsSync(join(dir, '.ferry.lock'))).toBe(false);
  });

  it('ENOSPC while writing a sidecar is DISK_FULL, and leaves no temp file', async () => {
    const disk = await smallDisk('1m');
    fill(disk);
    const error = await writeSidecar(join(disk, 'backup_20260101_000000.tar.gz.sha256'), `${'0'.repeat(64)}  backup_20260101_000000.tar.gz\n`.repeat(200)).catch((e: unknown) => e);
    expect((error as FerryError).code).toBe('DISK_FULL');
    expect((await readdir(disk)).filter((n) => !n.startsWith('filler'))).toEqual([]);
  });

  it('a read-only backup disk: BACKUP_DIR_UNWRITABLE (exit 1), the older backup intact', async () => {
    const disk = await smallDisk('12m');
    const dir = join(disk, 'backups');
    const db = await smallDatabase();
    const { old, oldBytes } = await oldBackupIn(dir, db);
    execFileSync('mount', ['-o', 'remount,ro', disk]);
    const result = await ferry(['backup'], { DATABASE_URL: pgUrl(db), BACKUP_DIRECTORY: dir, BACKUP_RETENTION_DAYS: '1' });
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toMatch(/^ferry: backup directory .* cannot be created or written$/m);
    expect(await readFile(old)).toEqual(oldBytes);
    execFileSync('mount', ['-o', 'remount,rw', disk]);
  });

  it('a backup directory others can read: tightened to 0700 when it holds only Ferry files, a warning otherwise', async () => {
    const work = await tempDir();
    const db = await smallDatabase();
    const ours = join(work, 'ours');
    await oldBackupIn(ours, db);
    execFileSync('chmod', ['0755', ours]);
    const tightened = await ferry(['backup'], { DATABASE_URL: pgUrl(db), BACKUP_DIRECTORY: ours });
    expect(tightened.code, tightened.stderr).toBe(0);
    expect(tightened.stderr).toMatch(/was readable by other users \(mode 0755\); tightened it to 0700/);
    expect(execFileSync('stat', ['-c', '%a', ours], { encoding: 'utf8' }).trim()).toBe('700');

    const shared = join(work, 'shared');
    await mkdir(shared, { mode: 0o755 });
    await writeFile(join(shared, 'notes.txt'), 'not ferry');
    execFileSync('chmod', ['0755', shared]);
    const warned = await ferry(['backup'], { DATABASE_URL: pgUrl(db), BACKUP_DIRECTORY: shared });
    expect(warned.code, warned.stderr).toBe(0);
    expect(warned.stderr).toMatch(/can be read by other users \(mode 0755\).*run chmod 700/);
    expect(execFileSync('stat', ['-c', '%a', shared], { encoding: 'utf8' }).trim()).toBe('755');
  });

  it('a backup directory that becomes unwritable part-way (EACCES): one BACKUP_DIR_UNWRITABLE naming it, no archive, the older backup intact, the next run cleans up', async () => {
    const work = await tempDir();
    await chmod(work, 0o755);
    const uploads = join(work, 'uploads');
    await mkdir(uploads, { mode: 0o755 });
    for (let i = 0; i < 12; i++) {
      await writeFile(join(uploads, `scan-${i}.bin`), randomBytes(512 * 1024));
      await chmod(join(uploads, `scan-${i}.bin`), 0o644);
    }
    const backups = join(work, 'backups');
    await mkdir(backups, { mode: 0o700 });
    await chown(backups, 65534, 65534);
    const env = { UPLOADS_DIR: uploads, BACKUP_DIRECTORY: backups, HOME: '/tmp', BACKUP_RETENTION_DAYS: '36500' };
    const asNobody = (args: string[]) => nobody(args, env);
    const first = await outputOf(asNobody(['backup']));
    expect(first.code, first.stderr).toBe(0);
    const before = (await readdir(backups)).sort();
    const old = before.find((n) => n.endsWith('.tar.gz')) as string;
    const oldBytes = await readFile(join(backups, old));
    // Archives are named by the second: the next one must not collide with the first.
    await new Promise((r) => setTimeout(r, 1100));

    const child = asNobody(['backup', '--json']);
    let revoked = false;
    const watching = (async () => {
      while (!revoked && child.exitCode === null) {
        if ((await readdir(backups)).some((n) => n.endsWith('.partial'))) {
          // The open archive stays writable; every later create, rename or removal there is refused.
          await chmod(backups, 0o500);
          revoked = true;
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const result = await outputOf(child);
    await watching;
    expect(revoked, 'the directory was made unwritable while the archive was written').toBe(true);
    expect(result.code, result.stderr).toBe(1);
    const error = (JSON.parse(result.stdout) as { error: { code: string; message: string; hint: string } }).error;
    expect(error.code, error.message).toBe('BACKUP_DIR_UNWRITABLE');
    expect(error.message).toContain(backups);
    expect(error.message).toMatch(/permission denied/);
    expect(error.hint).toMatch(/writable by the user running ferry/);
    expect(result.stderr).not.toMatch(/this is a bug/);
    const after = await readdir(backups);
    expect(after.filter((n) => /^backup_\d{8}_\d{6}\.tar\.gz$/.test(n))).toEqual([old]);
    expect(await readFile(join(backups, old))).toEqual(oldBytes);

    await chmod(backups, 0o700);
    const next = await outputOf(asNobody(['backup', '--json']));
    expect(next.code, next.stderr).toBe(0);
    // The lock of the failed run is not a leftover: the next run takes it over from its dead owner.
    const left = after.filter((n) => !before.includes(n) && n !== '.ferry.lock');
    const removed = (JSON.parse(next.stdout) as { leftoversRemoved: Array<{ path: string }> }).leftoversRemoved.map((l) => l.path);
    expect(removed.sort()).toEqual(left.map((n) => join(backups, n)).sort());
    expect((await readdir(backups)).filter((n) => n.endsWith('.partial') || n.endsWith('.tmp') || n.startsWith('.ferry-'))).toEqual([]);
  }, 300_000);

  it('an uploads folder whose parent becomes unwritable during a restore (EACCES): one typed error naming it, the folder as it was, the next run cleans up', async () => {
    const work = await tempDir();
    await chmod(work, 0o755);
    const source = join(work, 'prod-uploads');
    await mkdir(source, { mode: 0o755 });
    for (let i = 0; i < 12; i++) await writeFile(join(source, `scan-${i}.bin`), randomBytes(512 * 1024));
    const backups = join(work, 'backups');
    const made = await ferry(['backup'], { UPLOADS_DIR: source, BACKUP_DIRECTORY: backups });
    expect(made.code, made.stderr).toBe(0);
    execFileSync('chown', ['-R', '65534:65534', backups]);
    const site = join(work, 'site');
    const target = join(site, 'uploads');
    await mkdir(target, { recursive: true, mode: 0o755 });
    await writeFile(join(target, 'keep.txt'), 'precious');
    execFileSync('chown', ['-R', '65534:65534', site]);
    const before = await snapshotTree(target);
    const env = { UPLOADS_DIR: target, BACKUP_DIRECTORY: backups, HOME: '/tmp' };

    const child = nobody(['restore', 'latest', '--yes', '--json'], env);
    let revoked = false;
    const watching = (async () => {
      while (!revoked && child.exitCode === null) {
        if ((await readdir(site)).some((n) => n.includes('ferry-restore'))) {
          await chmod(site, 0o555);
          revoked = true;
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const result = await outputOf(child);
    await watching;
    expect(revoked, 'the parent folder was made unwritable during the restore').toBe(true);
    expect(result.code, result.stderr).toBe(1);
    const error = (JSON.parse(result.stdout) as { error: { code: string; message: string; hint: string } }).error;
    expect(['UPLOADS_SWAP_FAILED', 'UPLOADS_TARGET_UNWRITABLE'], error.message).toContain(error.code);
    expect(error.message).toContain(target);
    expect(error.hint).toMatch(/permissions|user that can write/);
    expect(result.stderr).not.toMatch(/this is a bug|damaged|another backup/);
    expect(await snapshotTree(target)).toEqual(before);

    await chmod(site, 0o755);
    const next = await outputOf(nobody(['restore', 'latest', '--yes'], env));
    expect(next.code, next.stderr).toBe(0);
    expect((await readdir(site)).filter((n) => n.includes('ferry-restore'))).toEqual([]);
    expect(await readFile(join(target, 'scan-0.bin'))).toEqual(await readFile(join(source, 'scan-0.bin')));
  });

  it('a temp_directory the user cannot write: BACKUP_DIR_UNWRITABLE (exit 1), not a bug', async () => {
    const work = await tempDir();
    await chmod(work, 0o755);
    const uploads = join(work, 'uploads');
    await mkdir(uploads, { mode: 0o755 });
    await writeFile(join(uploads, 'a.txt'), 'photo');
    await chmod(join(uploads, 'a.txt'), 0o644);
    const backups = join(work, 'backups');
    await mkdir(backups, { mode: 0o700 });
    await chown(backups, 65534, 65534);
    const staging = join(work, 'staging');
    await mkdir(staging, { mode: 0o755 });
    const result = spawnSync(process.execPath, [FERRY_BIN, 'backup', '--json'], {
      env: cleanEnv({ UPLOADS_DIR: uploads, BACKUP_DIRECTORY: backups, FERRY_BACKUP_TEMP_DIRECTORY: staging, HOME: '/tmp' }),
      uid: 65534, gid: 65534, encoding: 'utf8',
    });
    expect(result.status, result.stderr).toBe(1);
    const error = (JSON.parse(result.stdout) as { error: { code: string; message: string } }).error;
    expect(error.code).toBe('BACKUP_DIR_UNWRITABLE');
    expect(error.message).toBe(`cannot write ${staging}: permission denied`);
    expect(await readdir(backups)).toEqual([]);
  });
});
