import { createHash } from 'node:crypto';
import { lstat, readFile, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';

export interface TreeEntry { type: string; mode: number; mtime: number; sha?: string; link?: string }

/** Every entry below `root` with what a user would compare: type, mode, time (seconds), content, link target. */
export async function snapshotTree(root: string, rel = '', skip: (name: string) => boolean = () => false): Promise<Record<string, TreeEntry>> {
  const out: Record<string, TreeEntry> = {};
  for (const name of (await readdir(join(root, rel))).sort()) {
    if (rel === '' && skip(name)) continue;
    const path = rel === '' ? name : `${rel}/${name}`;
    const s = await lstat(join(root, path));
    if (s.isSymbolicLink()) out[path] = { type: 'link', mode: 0, mtime: 0, link: await readlink(join(root, path)) };
    else if (s.isDirectory()) {
      out[path] = { type: 'dir', mode: s.mode & 0o7777, mtime: Math.floor(s.mtimeMs / 1000) };
      Object.assign(out, await snapshotTree(root, path));
    } else {
      out[path] = { type: 'file', mode: s.mode & 0o7777, mtime: Math.floor(s.mtimeMs / 1000), sha: createHash('sha256').update(await readFile(join(root, path))).digest('hex') };
    }
  }
  return out;
}

export async function inode(path: string): Promise<number> {
  return (await lstat(path)).ino;
}
