import { chmod, mkdir, readFile, readdir, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FilesStore } from '../../src/stores/files/index.js';
import { FerryError } from '../../src/errors/index.js';
import { ferry } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';
import { inode, snapshotTree } from '../support/tree.js';
import { libraryRestore, storeCtx } from '../support/uploads-restore.js';

const past = new Date('2024-05-06T07:08:09Z');

async function sourceUploads(root: string): Promise<void> {
  await mkdir(join(root, 'sub'), { recursive: true });
  await writeFile(join(root, 'big.bin'), Buffer.alloc(1024 * 1024 + 3, 9));
  await writeFile(join(root, 'same-size.txt'), 'archived text');
  await writeFile(join(root, 'sub', 'c.txt'), 'c');
  await writeFile(join(root, 'empty.txt'), '');
  for (const name of ['big.bin', 'same-size.txt', 'sub/c.txt', 'empty.txt']) await utimes(join(root, name), past, past);
}

async function backedUpUploads() {
  const work = await tempDir();
  const source = join(work, 'uploads');
  await sourceUploads(source);
  const backups = join(work, 'backups');
  const made = await ferry(['backup'], { UPLOADS_DIR: source, BACKUP_DIRECTORY: backups });
  expect(made.code, made.stderr).toBe(0);
  return { work, source, backups };
}

describe('uploads restore: build beside, hard-link what is unchanged, keep the previous folder', () => {
  it('links files whose bytes match, writes the others, says so in the plan and the result, and keeps the previous folder', async () => {
    const { work, source, backups } = await backedUpUploads();
    const target = join(work, 'dev');
    const env = { UPLOADS_DIR: target, BACKUP_DIRECTORY: backups };
    const first = await ferry(['restore', 'latest', '--yes'], env);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain('uploads: 0 files reused from the current folder by hard link, 4 written');
    expect(await readdir(work)).not.toContain('dev.ferry-prev');

    // Same size, time and mode, other bytes: only the byte comparison can tell.
    await writeFile(join(target, 'same-size.txt'), 'changed text!');
    await utimes(join(target, 'same-size.txt'), past, past);
    await writeFile(join(target, 'only-here.txt'), 'local work');
    const bigBefore = await inode(join(target, 'big.bin'));

    const plan = await ferry(['restore', 'latest', '--dry-run'], env);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toContain('1 file exists only in the target and is moved aside');
    expect(plan.stdout).toContain(`kept as ${target}.ferry-prev`);
    expect(plan.stdout).toMatch(/3 files have the archive's size, time and mode/);

    const second = await ferry(['restore', 'latest', '--yes'], env);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain('uploads: 2 files reused from the current folder by hard link, 2 written');
    expect(second.stdout).toContain(`previous folder kept at ${target}.ferry-prev, with the 1 file that was only there`);
    expect(await snapshotTree(target)).toEqual(await snapshotTree(source));
    expect(await inode(join(target, 'big.bin'))).toBe(bigBefore);
    expect(await inode(join(`${target}.ferry-prev`, 'big.bin'))).toBe(bigBefore);
    expect(await readFile(join(`${target}.ferry-prev`, 'same-size.txt'), 'utf8')).toBe('changed text!');
    expect(await readFile(join(`${target}.ferry-prev`, 'only-here.txt'), 'utf8')).toBe('local work');

    // The next restore replaces the previous copy with what it replaces.
    const third = await ferry(['restore', 'latest', '--yes'], env);
    expect(third.code, third.stderr).toBe(0);
    // An empty file is always written: there is nothing to save.
    expect(third.stdout).toContain('3 files reused from the current folder by hard link, 1 written (0 B)');
    expect(await snapshotTree(`${target}.ferry-prev`)).toEqual(await snapshotTree(source));
    expect((await readdir(work)).sort()).toEqual(['backups', 'dev', 'dev.ferry-prev', 'uploads']);
  });

  it('still checks an entry whose file is hard-linked: a checksum that disagrees fails the restore and changes nothing', async () => {
    const { work, backups } = await backedUpUploads();
    const target = join(work, 'dev');
    const env = { UPLOADS_DIR: target, BACKUP_DIRECTORY: backups };
    expect((await ferry(['restore', 'latest', '--yes'], env)).code).toBe(0);
    const before = await snapshotTree(target);
    // The archive's bytes for big.bin are the target's, but its manifest says another sha256.
    const archive = join(backups, (await readdir(backups)).find((n) => n.endsWith('.tar.gz'))!);
    const opened = join(work, 'opened');
    await mkdir(opened);
    execFileSync('tar', ['-xzf', archive, '-C', opened]);
    const manifest = JSON.parse(await readFile(join(opened, 'manifest.json'), 'utf8')) as { entries: Array<{ path: string; sha256?: string }> };
    manifest.entries.find((e) => e.path === 'uploads/big.bin')!.sha256 = '0'.repeat(64);
    await writeFile(join(opened, 'manifest.json'), JSON.stringify(manifest));
    execFileSync('tar', ['-czf', archive, '-C', opened, ...(await readdir(opened)).filter((n) => n !== 'manifest.json'), 'manifest.json']);
    await rm(`${archive}.manifest.json`, { force: true });
    await rm(`${archive}.sha256`, { force: true });

    const restored = await ferry(['restore', archive, '--yes'], env);
    expect(restored.code).toBe(2);
    expect(restored.stderr).toMatch(/uploads\/big\.bin/);
    expect(await snapshotTree(target)).toEqual(before);
    expect((await readdir(work)).sort()).toEqual(['backups', 'dev', 'opened', 'uploads']);
  });

  it('does not link a file whose mode differs, nor one reached through a link out of the folder', async () => {
    const { work, source, backups } = await backedUpUploads();
    const target = join(work, 'dev');
    const env = { UPLOADS_DIR: target, BACKUP_DIRECTORY: backups };
    expect((await ferry(['restore', 'latest', '--yes'], env)).code).toBe(0);
    await chmod(join(target, 'big.bin'), 0o600);
    const outside = join(work, 'outside');
    await mkdir(outside);
    await writeFile(join(outside, 'c.txt'), 'c');
    await utimes(join(outside, 'c.txt'), past, past);
    await rm(join(target, 'sub'), { recursive: true });
    await symlink(outside, join(target, 'sub'));
    const restored = await ferry(['restore', 'latest', '--yes'], env);
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stdout).toContain('1 file reused from the current folder by hard link, 3 written');
    expect(await snapshotTree(target)).toEqual(await snapshotTree(source));
    expect(await inode(join(target, 'sub', 'c.txt'))).not.toBe(await inode(join(outside, 'c.txt')));
  });

  it('refuses --only uploads into the folder the archive was taken from, and restores into another', async () => {
    const { work, source, backups } = await backedUpUploads();
    await writeFile(join(source, 'new since the backup.txt'), 'production data');
    const before = await snapshotTree(source);
    const refused = await ferry(['restore', 'latest', '--yes', '--only', 'uploads'], { UPLOADS_DIR: source, BACKUP_DIRECTORY: backups });
    expect(refused.code).toBe(4);
    expect(refused.stderr).toContain(`refusing to restore into ${source}`);
    expect(await snapshotTree(source)).toEqual(before);
    expect((await readdir(work)).sort()).toEqual(['backups', 'uploads']);

    const other = await ferry(['restore', 'latest', '--yes', '--only', 'uploads'], { UPLOADS_DIR: join(work, 'dev'), BACKUP_DIRECTORY: backups });
    expect(other.code, other.stderr).toBe(0);
  });
});

describe('uploads undo and reset through the CLI', () => {
  it('restore --undo swaps back and forth, reset brings the restored folder back, --drop-previous frees both copies', async () => {
    const { work, source, backups } = await backedUpUploads();
    const target = join(work, 'dev');
    await mkdir(target);
    await writeFile(join(target, 'mine.txt'), 'my experiment');
    const modified = await snapshotTree(target);
    const restoredTree = await snapshotTree(source);
    const env = { UPLOADS_DIR: target, BACKUP_DIRECTORY: backups, FERRY_RESTORE_KEEP_PRISTINE: 'true' };
    const restored = await ferry(['restore', 'latest', '--yes'], env);
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stdout).toContain(`pristine copy kept at ${target}.ferry-pristine for ferry reset`);

    const undo = await ferry(['restore', '--undo', '--yes'], env);
    expect(undo.code, undo.stderr).toBe(0);
    expect(await snapshotTree(target)).toEqual(modified);
    const redo = await ferry(['restore', '--undo', '--yes'], env);
    expect(redo.code, redo.stderr).toBe(0);
    expect(await snapshotTree(target)).toEqual(restoredTree);

    await rm(join(target, 'big.bin'));
    await writeFile(join(target, 'scratch.txt'), 'x');
    const reset = await ferry(['reset', '--yes'], env);
    expect(reset.code, reset.stderr).toBe(0);
    expect(await snapshotTree(target)).toEqual(restoredTree);

    const dropped = await ferry(['restore', '--drop-previous', '--yes'], env);
    expect(dropped.code, dropped.stderr).toBe(0);
    expect((await readdir(work)).sort()).toEqual(['backups', 'dev', 'uploads']);
    const nothing = await ferry(['restore', '--undo', '--yes'], env);
    expect(nothing.code).toBe(3);
    expect(nothing.stderr).toMatch(/no restore kept a previous copy/);
    expect(await snapshotTree(target)).toEqual(restoredTree);
  });
});

describe('uploads undo and reset, on the store', () => {
  it('undo brings the modified folder back, a second undo redoes, reset brings the restored folder back', async () => {
    const { work, source, backups } = await backedUpUploads();
    const target = join(work, 'dev');
    await mkdir(target);
    await writeFile(join(target, 'mine.txt'), 'my experiment');
    const modified = await snapshotTree(target);
    const store = new FilesStore({ path: target, strict: false });
    const ctx = storeCtx(work);

    const { result } = await libraryRestore(target, backups, true);
    expect(result.stores[0]?.notes).toContain(`pristine copy kept at ${target}.ferry-pristine for ferry reset`);
    const restored = await snapshotTree(source);
    expect(await snapshotTree(target)).toEqual(restored);
    expect((await store.keptCopies({}, ctx)).map((c) => [c.role, c.describe])).toEqual([['previous', `${target}.ferry-prev`], ['pristine', `${target}.ferry-pristine`]]);

    expect(await store.undo({}, ctx)).toMatch(/previous copy is back/);
    expect(await snapshotTree(target)).toEqual(modified);
    await store.undo({}, ctx);
    expect(await snapshotTree(target)).toEqual(restored);

    // A developer's experiment: files added, removed and replaced (as uploads are, by a new file).
    await writeFile(join(target, 'experiment.txt'), 'x');
    await rm(join(target, 'sub'), { recursive: true });
    await rm(join(target, 'same-size.txt'));
    await writeFile(join(target, 'same-size.txt'), 'rewritten');
    const experimented = await snapshotTree(target);
    expect(await store.reset({}, ctx)).toMatch(/back to the pristine copy/);
    expect(await snapshotTree(target)).toEqual(restored);
    expect(await snapshotTree(`${target}.ferry-prev`)).toEqual(experimented);
    // The pristine copy stays for the next reset.
    expect(await snapshotTree(`${target}.ferry-pristine`)).toEqual(restored);

    expect((await store.dropKept(['previous', 'pristine'], {}, ctx)).sort()).toEqual([`${target}.ferry-prev`, `${target}.ferry-pristine`]);
    expect(await store.keptCopies({}, ctx)).toEqual([]);
    expect((await readdir(work)).sort()).toEqual(['backups', 'dev', 'uploads']);
  });

  it('undo and reset with nothing kept refuse with NOTHING_TO_UNDO and NOTHING_TO_RESET and change nothing', async () => {
    const work = await tempDir();
    const target = join(work, 'dev');
    await mkdir(target);
    await writeFile(join(target, 'a.txt'), 'a');
    const before = await snapshotTree(target);
    const store = new FilesStore({ path: target, strict: false });
    const undo = await store.undo({}, storeCtx(work)).catch((e: unknown) => e);
    expect(undo).toBeInstanceOf(FerryError);
    expect((undo as FerryError).code).toBe('NOTHING_TO_UNDO');
    expect((undo as FerryError).message).toContain(`${target}.ferry-prev does not exist`);
    const reset = await store.reset({}, storeCtx(work)).catch((e: unknown) => e);
    expect((reset as FerryError).code).toBe('NOTHING_TO_RESET');
    expect(await snapshotTree(target)).toEqual(before);
    expect(await readdir(work)).toEqual(['dev']);
    expect((await stat(target)).isDirectory()).toBe(true);
  });
});
