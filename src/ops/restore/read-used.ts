import { drain, entryKey, readArchiveHeadChecked, StopReading, type ArchiveEntryHeader, type Manifest, type ReadArchiveOptions } from '../../archive/index.js';
import { FerryError } from '../../errors/index.js';
import type { Logger, RestoreStaging } from '../../stores/index.js';
import { fromSeekPoint } from './seek-pass.js';

/** Where the archive's pass hands an entry: a store, or nowhere because the read-ahead pass has it. */
export type EntryRoute = { staging: RestoreStaging; relativePath: string; header: ArchiveEntryHeader } | 'taken ahead' | undefined;

/**
 * Reads the archive only as far as the last entry a selected store uses, as restic's restore reads
 * only the packs it needs and pgBackRest's only the files it restores. What comes after (the plain
 * SQL dump behind the custom one, backup_info.txt, the manifest inside) is restored by nothing, and
 * inflating it took a core from the database load. When nothing before the first entry used is
 * (`--only postgres` skips the uploads before the dump), the read starts at that entry's seek point.
 * Each entry used is checked against `manifest` (the sidecar the plan was made from) as soon as it
 * is read; ferry verify still reads every entry.
 */
export async function readUsedEntries(
  archive: string,
  manifest: Manifest,
  stagings: ReadonlyMap<string, RestoreStaging>,
  route: (header: ArchiveEntryHeader) => EntryRoute,
  log: Logger,
  options: ReadArchiveOptions,
): Promise<void> {
  const used = usedEntries(manifest, stagings);
  const first = manifest.entries.find((entry) => used.has(entryKey(entry.path)));
  const seek = first !== undefined && first !== manifest.entries[0] && options.decrypt === undefined ? first.seek : undefined;
  let missed = false;
  const { reached, remaining } = await fromSeekPoint(
    seek,
    (from, onReached) => usedPass(archive, manifest, used, route, { ...options, from }, from === undefined ? undefined : { key: entryKey(first?.path ?? ''), onReached }),
    (why) => {
      missed = true;
      log.debug(`reading from the seek point of ${first?.path} failed before reaching it (${why}); reading from the start`);
    },
  );
  if (seek !== undefined && !missed) log.debug(`read from the seek point of ${first?.path}: nothing before it is restored`);
  if (remaining.size > 0) {
    const missing = [...remaining][0] as string;
    throw new FerryError('ARCHIVE_ENTRY_MISSING', `archive ${archive} ends before ${remaining.size} entr${remaining.size === 1 ? 'y' : 'ies'} its manifest lists, first ${missing}`, {
      hint: 'The archive is incomplete; nothing was changed. Restore from another backup (ferry list).',
    });
  }
  const unread = manifest.entries.map((entry) => entryKey(entry.path)).filter((key) => !reached.has(key));
  if (unread.length > 0) log.debug(`not read, since nothing restores ${unread.length === 1 ? 'it' : 'them'}: ${unread.slice(0, 3).join(', ')}${unread.length > 3 ? ` and ${unread.length - 3} more` : ''}`);
}

/**
 * One pass: hands each used entry to its store; returns the entries it read and the used ones it
 * did not reach. From a seek point, the first entry must be `expected.key` (else it stops there).
 */
async function usedPass(
  archive: string,
  manifest: Manifest,
  used: ReadonlySet<string>,
  route: (header: ArchiveEntryHeader) => EntryRoute,
  options: ReadArchiveOptions,
  expected: { key: string; onReached: () => void } | undefined,
): Promise<{ reached: Set<string>; remaining: Set<string> }> {
  const remaining = new Set(used);
  const reached = new Set<string>();
  await readArchiveHeadChecked(archive, manifest, async (header, data) => {
    if (remaining.size === 0) throw new StopReading();
    const key = entryKey(header.path);
    if (expected !== undefined && reached.size === 0) {
      if (key !== expected.key) throw new StopReading();
      expected.onReached();
    }
    reached.add(key);
    if (!remaining.delete(key)) {
      await drain(data);
      return;
    }
    const target = route(header);
    if (typeof target === 'object') await target.staging.accept(target.header, target.relativePath, data);
    else if (remaining.size === 0) throw new StopReading();
    else await drain(data);
  }, options);
  return { reached, remaining };
}

function usedEntries(manifest: Manifest, stagings: ReadonlyMap<string, RestoreStaging>): Set<string> {
  const used = new Set<string>();
  for (const [prefix, staging] of stagings) {
    const relative = manifest.entries.filter((entry) => entry.path.startsWith(prefix)).map((entry) => entry.path.slice(prefix.length));
    for (const path of staging.uses?.(relative) ?? relative) used.add(entryKey(prefix + path));
  }
  return used;
}
