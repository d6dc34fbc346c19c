import { readdir, rename, rm, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import type { Readable } from 'node:stream';
import type { ArchiveEntryHeader, ManifestEntry, StoreManifest } from '../../archive/index.js';
import { formatBytes, plural } from '../../util/format.js';
import type { RestoreOptions, RestoreStaging, RestoreTarget, StoreRestoreResult } from '../store.js';
import { layoutOf, OWN_ENTRY, parseWorkName, ownerAlive, workPath, type FolderLayout } from './layout.js';
import { FolderStaging } from './staging.js';
import { recoverLeftovers, swapIn } from './swap.js';
import { targetError } from './target-error.js';
import { linkTree } from './tree.js';
import { countTree, walk } from './walk.js';

const ownEntry = (name: string) => OWN_ENTRY.test(name);

/** Identity of a folder for the "never into the source" guard: the same folder on the same host. */
export function folderFingerprint(stats: { dev: number; ino: number }): string {
  return `uploads host ${hostname()} device ${stats.dev} inode ${stats.ino}`;
}

export async function inspectFolder(target: string, options: RestoreOptions): Promise<RestoreTarget> {
  const layout = await layoutOf(target);
  const leftovers = await deadLeftovers(layout);
  const cleanup = leftovers.length === 0 ? [] : [`left by a killed restore, recovered or removed first: ${leftovers.join(', ')}`];
  const stats = await stat(target).catch(() => undefined);
  if (stats === undefined || !stats.isDirectory()) {
    return { describe: target, fingerprint: undefined, currentCounts: undefined, notes: cleanup };
  }
  const counts = await countTree(target, ownEntry);
  const notes = [
    layout.mountPoint
      ? `a mount point: the new entries are built inside it and swapped in one by one; the current ones are kept in ${layout.previous}`
      : `built beside it and swapped in; the current folder is kept as ${layout.previous}`,
  ];
  if (await exists(layout.previous)) notes.push(`replaces the previous copy already at ${layout.previous}`);
  const archived = archivedFiles(options.archiveEntries);
  if (archived === undefined) {
    notes.push('the archive lists no entries, so files that exist only in the target cannot be counted ahead; they are kept in the previous copy');
  } else {
    const { onlyHere, lookSame } = await compareWithArchive(target, archived);
    notes.push(onlyHere === 0 ? 'no file exists only in the target' : `${plural(onlyHere, 'file')} ${onlyHere === 1 ? 'exists' : 'exist'} only in the target and ${onlyHere === 1 ? 'is' : 'are'} moved aside (kept in ${layout.previous})`);
    if (lookSame > 0) notes.push(`${plural(lookSame, 'file')} ${lookSame === 1 ? 'has' : 'have'} the archive's size, time and mode: compared byte by byte and hard-linked, not written again`);
  }
  if (options.keepPristine === true) notes.push(`a pristine copy is kept at ${layout.pristine} (hard links) for ferry reset`);
  notes.push(...cleanup);
  return {
    describe: target,
    fingerprint: folderFingerprint(stats),
    currentCounts: { files: counts.files, directories: counts.directories, symlinks: counts.symlinks },
    notes,
  };
}

export async function prepareFolderRestore(target: string, manifest: StoreManifest, options: RestoreOptions): Promise<RestoreStaging> {
  const layout = await layoutOf(target);
  const recovered = await recoverLeftovers(layout).catch((cause: unknown) => {
    throw targetError(cause, layout);
  });
  const staging = await FolderStaging.create(layout);
  const accepted = new Set<string>();
  let pristine: string | undefined;
  return {
    accept: (header: ArchiveEntryHeader, relativePath: string, data: Readable) => {
      if (header.type === 'file') accepted.add(relativePath);
      return staging.accept(header, relativePath, data);
    },
    apply: async () => {
      const started = Date.now();
      const notes = [...recovered];
      let kept: boolean;
      try {
        await staging.finish();
        const movedAside = await filesNotIn(target, accepted);
        if (options.keepPristine === true) {
          pristine = workPath(layout, 'pristine');
          await linkTree(staging.path, pristine);
        }
        kept = await swapIn(layout, staging.path);
        if (pristine !== undefined) notes.push(await keepPristine(pristine, layout.pristine));
        pristine = undefined;
        const { linked, written, bytesWritten } = staging.counts;
        notes.unshift(`${plural(linked, 'file')} reused from the current folder by hard link, ${written} written (${formatBytes(bytesWritten)})`);
        notes.push(kept ? `previous folder kept at ${layout.previous}${movedAside > 0 ? `, with the ${plural(movedAside, 'file')} that ${movedAside === 1 ? 'was' : 'were'} only there` : ''}` : 'there was no previous folder to keep');
      } catch (cause) {
        throw targetError(cause, layout);
      }
      const actual = await countTree(target, ownEntry);
      const result: StoreRestoreResult = {
        target,
        counts: (['files', 'directories', 'symlinks'] as const).map((object) => ({ object, expected: manifest.counts[object] ?? -1, actual: actual[object] })),
        durationSeconds: (Date.now() - started) / 1000,
        notes,
      };
      return result;
    },
    discard: async () => {
      await staging.discard();
      if (pristine !== undefined) await rm(pristine, { recursive: true, force: true });
    },
  };
}

/** Past the swap the restore has happened: a pristine copy that cannot be kept is said, not thrown. */
async function keepPristine(incoming: string, kept: string): Promise<string> {
  try {
    await rm(kept, { recursive: true, force: true });
    await rename(incoming, kept);
    return `pristine copy kept at ${kept} for ferry reset`;
  } catch (cause) {
    await rm(incoming, { recursive: true, force: true }).catch(() => undefined);
    return `the pristine copy could not be kept at ${kept} (${(cause as Error).message}); ferry reset has nothing to bring back`;
  }
}

/** The archive's uploads files by path relative to the folder, when the manifest lists entries. */
function archivedFiles(entries: readonly ManifestEntry[] | undefined): Map<string, ManifestEntry> | undefined {
  const files = (entries ?? []).filter((entry) => entry.path.startsWith('uploads/'));
  if (files.length === 0) return undefined;
  return new Map(files.filter((entry) => entry.type === 'file').map((entry) => [entry.path.slice('uploads/'.length), entry]));
}

async function compareWithArchive(target: string, archived: Map<string, ManifestEntry>): Promise<{ onlyHere: number; lookSame: number }> {
  let onlyHere = 0;
  let lookSame = 0;
  for await (const entry of walk(target, '', ownEntry)) {
    if (!entry.stats.isFile()) continue;
    const inArchive = archived.get(entry.relative);
    if (inArchive === undefined) {
      onlyHere++;
      continue;
    }
    const sameTime = inArchive.mtime !== undefined && Math.floor(entry.stats.mtimeMs / 1000) === Math.floor(Date.parse(inArchive.mtime) / 1000);
    const sameMode = inArchive.mode === undefined || (entry.stats.mode & 0o7777) === (inArchive.mode & 0o7777);
    if (inArchive.size > 0 && inArchive.size === entry.stats.size && sameTime && sameMode) lookSame++;
  }
  return { onlyHere, lookSame };
}

async function filesNotIn(target: string, accepted: Set<string>): Promise<number> {
  if (!(await exists(target))) return 0;
  let count = 0;
  for await (const entry of walk(target, '', ownEntry)) if (entry.stats.isFile() && !accepted.has(entry.relative)) count++;
  return count;
}

async function deadLeftovers(layout: FolderLayout): Promise<string[]> {
  const names = await readdir(layout.workParent).catch(() => [] as string[]);
  return names.filter((name) => {
    const parsed = parseWorkName(layout, name);
    return parsed !== undefined && !ownerAlive(parsed);
  });
}

export async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}
