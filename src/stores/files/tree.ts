import { chmod, link, lstat, lutimes, mkdir, readlink, symlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { walk } from './walk.js';

/**
 * Copies a tree as hard links: seconds for any size, and no extra space. The price: the copies share
 * each file's content, so a program writing into a file in place changes every copy of it (files
 * replaced by rename or delete-and-create, as uploads usually are, do not).
 */
export async function linkTree(from: string, to: string, skipTop: (name: string) => boolean = () => false): Promise<void> {
  const root = await lstat(from);
  await mkdir(to, { mode: 0o700 });
  const directories: Array<{ path: string; mode: number; mtime: Date }> = [{ path: to, mode: root.mode, mtime: root.mtime }];
  for await (const entry of walk(from, '', skipTop)) {
    const path = join(to, entry.relative);
    if (entry.stats.isDirectory()) {
      await mkdir(path, { mode: 0o700 });
      directories.push({ path, mode: entry.stats.mode, mtime: entry.stats.mtime });
    } else if (entry.stats.isSymbolicLink()) {
      await symlink(await readlink(entry.absolute), path);
      await lutimes(path, entry.stats.mtime, entry.stats.mtime).catch(() => undefined);
    } else if (entry.stats.isFile()) {
      await link(entry.absolute, path);
    }
  }
  await restoreDirectoryAttributes(directories);
}

/** Folder modes and times go last, deepest first, since filling a folder changes its time. */
export async function restoreDirectoryAttributes(directories: Array<{ path: string; mode: number; mtime: Date }>): Promise<void> {
  for (const dir of [...directories].reverse()) {
    await chmod(dir.path, dir.mode & 0o7777);
    await utimes(dir.path, dir.mtime, dir.mtime);
  }
}
