import { readlink } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import type { ManifestEntry } from '../../archive/index.js';
import { modifiedAt, walk } from './walk.js';

/** Above this share of the folder's bytes in changed files, a delta saves too little: a full is written. */
export const DELTA_MAX_SHARE = 0.5;

export interface ScannedEntry {
  relative: string;
  absolute: string;
  stats: Stats;
  linkTarget?: string;
}

export interface DeltaPlan {
  /** Files (relative paths) that are new, or differ from the base in size, time or mode: written again. */
  changed: Set<string>;
  /** Archive paths in the base's list that are gone, or are now another kind of entry. */
  deleted: string[];
  changedBytes: number;
  totalBytes: number;
}

/** The folder's entries from their metadata alone (no file is read), parents before children. */
export async function scanFolder(root: string, skipTop: (name: string) => boolean): Promise<ScannedEntry[]> {
  const scanned: ScannedEntry[] = [];
  for await (const entry of walk(root, '', skipTop)) {
    scanned.push(entry.stats.isSymbolicLink() ? { ...entry, linkTarget: await readlink(entry.absolute) } : entry);
  }
  return scanned;
}

export function entryType(stats: Stats): ManifestEntry['type'] | undefined {
  return stats.isFile() ? 'file' : stats.isDirectory() ? 'directory' : stats.isSymbolicLink() ? 'symlink' : undefined;
}

/**
 * Compares the folder with its base's list by size, modification time and mode: a file equal in all
 * three is taken as unchanged and not read (as rsync and restic do); the others are written, and
 * their sha256 computed as they are.
 */
export function planDelta(scanned: readonly ScannedEntry[], base: ReadonlyMap<string, ManifestEntry>, prefix: string): DeltaPlan {
  const changed = new Set<string>();
  const present = new Map<string, ManifestEntry['type']>();
  let changedBytes = 0;
  let totalBytes = 0;
  for (const entry of scanned) {
    const type = entryType(entry.stats);
    if (type === undefined) continue;
    // Folders are listed as the archive names them, with a trailing slash.
    present.set(prefix + entry.relative + (type === 'directory' ? '/' : ''), type);
    if (type !== 'file') continue;
    totalBytes += entry.stats.size;
    if (!unchanged(entry.stats, base.get(prefix + entry.relative))) {
      changed.add(entry.relative);
      changedBytes += entry.stats.size;
    }
  }
  const deleted = [...base.values()].filter((entry) => present.get(entry.path) !== entry.type).map((entry) => entry.path);
  return { changed, deleted, changedBytes, totalBytes };
}

function unchanged(stats: Stats, before: ManifestEntry | undefined): boolean {
  return before !== undefined && before.type === 'file' && before.sha256 !== undefined
    && before.size === stats.size
    && before.mtime !== undefined && sameTime(Date.parse(before.mtime), stats)
    && before.mode !== undefined && (before.mode & 0o7777) === (stats.mode & 0o7777);
}

/** Manifests written before modifiedAt recorded Node's rounded time: either counts as the same. */
function sameTime(recorded: number, stats: Stats): boolean {
  return recorded === modifiedAt(stats).getTime() || recorded === stats.mtime.getTime();
}

/** Whether the chain's next backup must be a full one, and why (for the log). */
export function fullReason(plan: DeltaPlan, position: number, fullEvery: number): string | undefined {
  if (position + 1 >= fullEvery) return `uploads.full_every is ${fullEvery}: ${position + 1} backups since the last full`;
  if (plan.totalBytes > 0 && plan.changedBytes > DELTA_MAX_SHARE * plan.totalBytes) {
    return `the changed files are over ${DELTA_MAX_SHARE * 100} % of the folder's bytes`;
  }
  return undefined;
}
