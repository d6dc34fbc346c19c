import { opendir, lstat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Stats } from 'node:fs';

export interface WalkedEntry {
  /** Path relative to the root, with forward slashes. */
  relative: string;
  absolute: string;
  stats: Stats;
}

/**
 * A file's modification time to the millisecond below it. Node's `stats.mtime` rounds to the nearest
 * millisecond, so a time of x.9996 s became x+1 s and, tar keeping whole seconds, a restored file
 * came back a second newer than its source.
 */
export function modifiedAt(stats: Stats): Date {
  return new Date(Math.floor(stats.mtimeMs));
}

/**
 * Every entry below `root`, parents before children, names in a stable order. Symbolic links are
 * reported as links and never followed. `skipTop` leaves out names at the top (Ferry's own folders
 * inside a mounted uploads folder).
 */
export async function* walk(root: string, relative = '', skipTop: (name: string) => boolean = () => false): AsyncGenerator<WalkedEntry> {
  const dir = join(root, relative);
  const names: string[] = [];
  for await (const dirent of await opendir(dir)) if (relative !== '' || !skipTop(dirent.name)) names.push(dirent.name);
  names.sort();
  for (const name of names) {
    const rel = relative === '' ? name : `${relative}/${name}`;
    const absolute = join(root, rel);
    const stats = await lstat(absolute);
    yield { relative: rel, absolute, stats };
    if (stats.isDirectory()) yield* walk(root, rel);
  }
}

export interface TreeCounts {
  files: number;
  directories: number;
  symlinks: number;
  bytes: number;
}

export async function countTree(root: string, skipTop?: (name: string) => boolean): Promise<TreeCounts> {
  const counts: TreeCounts = { files: 0, directories: 0, symlinks: 0, bytes: 0 };
  for await (const entry of walk(root, '', skipTop)) {
    if (entry.stats.isFile()) {
      counts.files++;
      counts.bytes += entry.stats.size;
    } else if (entry.stats.isDirectory()) counts.directories++;
    else if (entry.stats.isSymbolicLink()) counts.symlinks++;
  }
  return counts;
}
