import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FilesStore } from '../../src/stores/files/index.js';
import { ferry, startFerry } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';
import { snapshotTree } from '../support/tree.js';
import { libraryRestore, storeCtx } from '../support/uploads-restore.js';

const isRoot = process.getuid?.() === 0;
const ferryOwn = (name: string) => /^\.ferry-/.test(name);
const mounted: string[] = [];

function mountTmpfs(dir: string, size: string): void {
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  mounted.push(dir);
}

async function backedUp(files: Record<string, Buffer | string>) {
  const work = await tempDir();
  const source = join(work, 'uploads');
  for (const [name, content] of Object.entries(files)) {
    await mkdir(join(source, name, '..'), { recursive: true });
    await writeFile(join(source, name), content);
  }
  const backups = join(work, 'backups');
  const made = await ferry(['backup'], { UPLOADS_DIR: source, BACKUP_DIRECTORY: backups });
  expect(made.code, made.stderr).toBe(0);
  return { work, source, backups };
}

/** A pid that was just used and has exited: what a killed run leaves in its folder names. */
function deadPid(): number {
  return spawnSync('true').pid;
}


describe.skipIf(!isRoot)('uploads restore on real mounts (needs root for mount; skipped otherwise)', () => {
  afterAll(() => {
    for (const dir of mounted.splice(0).reverse()) execFileSync('umount', ['-l', dir]);
  });

  it('restores into a mount point by swapping its entries inside it, keeps the previous ones there, and undoes', async () => {
    const { work, source, backups } = await backedUp({ 'a.txt': 'a', 'photos/b.jpg': randomBytes(200_000) });
    const volume = join(work, 'volume');
    await mkdir(volume);
    mountTmpfs(volume, '50m');
    await writeFile(join(volume, 'local.txt'), 'only in the volume');
    await writeFile(join(volume, 'a.txt'), 'local a');
    const before = await snapshotTree(volume);
    const device = (await stat(volume)).dev;
    const env = { UPLOADS_DIR: volume, BACKUP_DIRECTORY: backups };

    const plan = await ferry(['restore', 'latest', '--dry-run'], env);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toContain(`a mount point: the new entries are built inside it and swapped in one by one; the current ones are kept in ${volume}/.ferry-prev`);

    const restored = await ferry(['restore', 'latest', '--yes'], env);
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stdout).toMatch(/uploads\s+files\s+2\s+2\s+ok/);
    expect((await stat(volume)).dev).toBe(device);
    expect(await snapshotTree(volume, '', ferryOwn)).toEqual(await snapshotTree(source));
    expect((await readdir(volume)).filter(ferryOwn)).toEqual(['.ferry-prev']);
    expect(await snapshotTree(join(volume, '.ferry-prev'))).toEqual(before);

    // Ferry's own folder inside the volume is not backed up or counted as uploads.
    const again = await ferry(['backup'], { UPLOADS_DIR: volume, BACKUP_DIRECTORY: join(work, 'backups2') });
    expect(again.code, again.stderr).toBe(0);
    const sidecar = (await readdir(join(work, 'backups2'))).find((name) => name.endsWith('.manifest.json'))!;
    const manifest = JSON.parse(await readFile(join(work, 'backups2', sidecar), 'utf8')) as { stores: { uploads: { counts: Record<string, number> } }; entries: Array<{ path: string }> };
    expect(manifest.stores.uploads.counts).toEqual({ files: 2, directories: 1, symlinks: 0 });
    expect(manifest.entries.filter((e) => e.path.includes('.ferry'))).toEqual([]);

    const store = new FilesStore({ path: volume, strict: false });
    await store.undo({}, storeCtx(work));
    expect(await snapshotTree(volume, '', ferryOwn)).toEqual(before);
    expect(await snapshotTree(join(volume, '.ferry-prev'))).toEqual(await snapshotTree(source));
    await store.undo({}, storeCtx(work));
    expect(await snapshotTree(volume, '', ferryOwn)).toEqual(await snapshotTree(source));

    // With a pristine copy, reset brings the restored entries back after an experiment.
    await libraryRestore(volume, backups, true);
    await writeFile(join(volume, 'experiment.txt'), 'x');
    await rm(join(volume, 'photos'), { recursive: true });
    expect(await store.reset({}, storeCtx(work))).toMatch(/back to the pristine copy/);
    expect(await snapshotTree(volume, '', ferryOwn)).toEqual(await snapshotTree(source));
    expect((await readdir(volume)).filter(ferryOwn).sort()).toEqual(['.ferry-prev', '.ferry-pristine']);
    expect((await store.keptCopies({}, storeCtx(work))).map((c) => c.describe)).toEqual([join(volume, '.ferry-prev'), join(volume, '.ferry-pristine')]);
  });

  it('a restore killed while moving a mount point\'s entries out is undone by the next run, which then restores', async () => {
    const { work, source, backups } = await backedUp({ 'a.txt': 'a' });
    const volume = join(work, 'volume');
    await mkdir(volume);
    mountTmpfs(volume, '10m');
    await writeFile(join(volume, 'one.txt'), '1');
    await mkdir(join(volume, 'two'));
    await writeFile(join(volume, 'two', 'three.txt'), '3');
    const original = await snapshotTree(volume);
    const dead = deadPid();
    // The state after a kill in the first half: 'two' already moved out, 'one.txt' not yet.
    await mkdir(join(volume, `.ferry-swap-${dead}-0000aaaa`));
    await rename(join(volume, 'two'), join(volume, `.ferry-swap-${dead}-0000aaaa`, 'two'));
    await mkdir(join(volume, `.ferry-restore-${dead}-0000bbbb`));
    await writeFile(join(volume, `.ferry-restore-${dead}-0000bbbb`, 'a.txt'), 'a');

    const restored = await ferry(['restore', 'latest', '--yes'], { UPLOADS_DIR: volume, BACKUP_DIRECTORY: backups });
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stdout).toContain(`uploads: a killed run (pid ${dead}) had moved entries of ${volume} aside: put them back`);
    expect(await snapshotTree(volume, '', ferryOwn)).toEqual(await snapshotTree(source));
    expect(await snapshotTree(join(volume, '.ferry-prev'))).toEqual(original);
    expect((await readdir(volume)).filter(ferryOwn)).toEqual(['.ferry-prev']);
  });

  it('a full filesystem is DISK_FULL (exit 1), not a damaged archive: the folder is unchanged and nothing is left beside it', async () => {
    const { work, backups } = await backedUp({ 'big1.bin': randomBytes(3_000_000), 'big2.bin': randomBytes(3_000_000) });
    const small = join(work, 'small');
    await mkdir(small);
    mountTmpfs(small, '5m');
    const target = join(small, 'dev');
    await mkdir(target);
    await writeFile(join(target, 'keep.txt'), 'precious');
    const before = await snapshotTree(target);
    const result = await ferry(['restore', 'latest', '--yes'], { UPLOADS_DIR: target, BACKUP_DIRECTORY: backups });
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toMatch(/^ferry: no space left while restoring uploads into .*\/small\/dev/m);
    expect(result.stderr).toContain('Free space on the filesystem of the uploads folder');
    expect(result.stderr).not.toMatch(/damaged|another backup/);
    expect(await snapshotTree(target)).toEqual(before);
    expect(await readdir(small)).toEqual(['dev']);

    // The same when the full filesystem is the mount point restored into.
    const filled = await ferry(['restore', 'latest', '--yes'], { UPLOADS_DIR: small, BACKUP_DIRECTORY: backups });
    expect(filled.code, filled.stderr).toBe(1);
    expect(filled.stderr).toMatch(/^ferry: no space left while restoring uploads/m);
    expect(await readdir(small)).toEqual(['dev']);
    expect(await snapshotTree(target)).toEqual(before);
  });

  it('a read-only filesystem is UPLOADS_TARGET_UNWRITABLE (exit 1) naming the folder, with the folder unchanged', async () => {
    const { work, backups } = await backedUp({ 'a.txt': 'a' });
    const ro = join(work, 'ro');
    await mkdir(ro);
    mountTmpfs(ro, '5m');
    const target = join(ro, 'dev');
    await mkdir(target);
    await writeFile(join(target, 'keep.txt'), 'precious');
    const before = await snapshotTree(target);
    execFileSync('mount', ['-o', 'remount,ro', ro]);
    const result = await ferry(['restore', 'latest', '--yes'], { UPLOADS_DIR: target, BACKUP_DIRECTORY: backups });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^ferry: cannot restore uploads into .*\/ro\/dev: read-only filesystem/m);
    expect(result.stderr).toContain('Run ferry as a user that can write the uploads folder');
    expect(result.stderr).not.toContain('this is a bug');
    expect(await snapshotTree(target)).toEqual(before);
  });
});

describe('what a killed restore leaves is cleaned up by the next one', () => {
  it('removes a dead run\'s half-built folder, puts a displaced folder back, and leaves a live run\'s folder alone', async () => {
    const { work, source, backups } = await backedUp({ 'a.txt': 'a' });
    const target = join(work, 'dev');
    await mkdir(target);
    await writeFile(join(target, 'mine.txt'), 'mine');
    const mine = await snapshotTree(target);
    const dead = deadPid();
    const halfBuilt = join(work, `.dev.ferry-restore-${dead}-0000abcd`);
    await mkdir(halfBuilt);
    await writeFile(join(halfBuilt, 'partial.bin'), 'x');
    // Killed between its two renames: the folder is only under its displaced name.
    await rename(target, join(work, `.dev.ferry-swap-${dead}-0000beef`));
    const live = join(work, `.dev.ferry-restore-${process.pid}-0000cafe`);
    await mkdir(live);
    // A live pid that started at another time is a reused pid (a container's pid 1): its owner is dead.
    const reused = `.dev.ferry-restore-${process.pid}.1-0000d00d`;
    await mkdir(join(work, reused));

    const plan = await ferry(['restore', 'latest', '--dry-run'], { UPLOADS_DIR: target, BACKUP_DIRECTORY: backups });
    expect(plan.code, plan.stderr).toBe(0);
    const cleanupLine = plan.stdout.split('\n').find((line) => line.includes('left by a killed restore, recovered or removed first: ')) ?? '';
    for (const name of [`.dev.ferry-restore-${dead}-0000abcd`, `.dev.ferry-swap-${dead}-0000beef`, reused]) expect(cleanupLine).toContain(name);
    expect(plan.stdout).not.toContain('0000cafe');
    const restored = await ferry(['restore', 'latest', '--yes'], { UPLOADS_DIR: target, BACKUP_DIRECTORY: backups });
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stdout).toContain(`uploads: a killed run (pid ${dead}) had moved ${target} aside: put it back`);
    expect(restored.stdout).toContain(`uploads: removed .dev.ferry-restore-${dead}-0000abcd, left by a killed run (pid ${dead})`);
    expect(restored.stdout).toContain(`uploads: removed ${reused}, left by a killed run (pid ${process.pid})`);
    expect(await snapshotTree(target)).toEqual(await snapshotTree(source));
    expect(await snapshotTree(`${target}.ferry-prev`)).toEqual(mine);
    expect((await readdir(work)).sort()).toEqual([`.dev.ferry-restore-${process.pid}-0000cafe`, 'backups', 'dev', 'dev.ferry-prev', 'uploads']);
  });

  it('after SIGKILL in the middle of a restore, the folder is as it was and the next restore removes the staging folder', async () => {
    const files: Record<string, Buffer> = {};
    for (let i = 0; i < 60; i++) files[`f${String(i).padStart(2, '0')}.bin`] = randomBytes(1_000_000);
    const { work, source, backups } = await backedUp(files);
    const target = join(work, 'dev');
    await mkdir(target);
    await writeFile(join(target, 'mine.txt'), 'mine');
    await utimes(join(target, 'mine.txt'), new Date(0), new Date(0));
    const mine = await snapshotTree(target);
    const env = { UPLOADS_DIR: target, BACKUP_DIRECTORY: backups };

    const { child, done } = startFerry(['restore', 'latest', '--yes'], env);
    let staging: string | undefined;
    while (staging === undefined) {
      staging = (await readdir(work)).find((name) => name.startsWith('.dev.ferry-restore-'));
      if (staging === undefined) await new Promise((r) => setTimeout(r, 5));
      else if ((await readdir(join(work, staging))).length < 2) staging = undefined;
    }
    child.kill('SIGKILL');
    expect((await done).code).toBe(null);
    expect(await snapshotTree(target)).toEqual(mine);
    expect(await readdir(work)).toContain(staging);

    const next = await ferry(['restore', 'latest', '--yes'], env);
    expect(next.code, next.stderr).toBe(0);
    expect(next.stdout).toContain(`uploads: removed ${staging}, left by a killed run`);
    expect(await snapshotTree(target)).toEqual(await snapshotTree(source));
    expect((await readdir(work)).sort()).toEqual(['backups', 'dev', 'dev.ferry-prev', 'uploads']);
  });
});
