import { drain, entryKey, readArchiveHeadChecked, StopReading, type ArchiveEntryHeader, type Manifest, type ReadArchiveOptions } from '../../archive/index.js';
import { FerryError } from '../../errors/index.js';
import type { Logger, RestoreStaging } from '../../stores/index.js';

/** Where the archive's pass hands an entry: a store, or nowhere because the read-ahead pass has it. */
export type EntryRoute = { staging: RestoreStaging; relativePath: string; header: ArchiveEntryHeader } | 'taken ahead' | undefined;

/**
 * Reads the archive only as far as the last entry a selected store uses, as restic's restore reads
 * only the packs it needs and pgBackRest's only the files it restores. What comes after (the plain
 * SQL dump behind the custom one, backup_info.txt, the manifest inside) is restored by nothing, and
 * inflating it took a core from the database load. Each entry used is checked against `manifest`
 * (the sidecar the plan was made from) as soon as it is read; ferry verify still reads every entry.
 */
export async function readUsedEntries(
  archive: string,
  manifest: Manifest,
  stagings: ReadonlyMap<string, RestoreStaging>,
  route: (header: ArchiveEntryHeader) => EntryRoute,
  log: Logger,
  options: ReadArchiveOptions,
): Promise<void> {
  const remaining = usedEntries(manifest, stagings);
  const reached = new Set<string>();
  await readArchiveHeadChecked(archive, manifest, async (header, data) => {
    if (remaining.size === 0) throw new StopReading();
    const key = entryKey(header.path);
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
  if (remaining.size > 0) {
    const first = [...remaining][0] as string;
    throw new FerryError('ARCHIVE_ENTRY_MISSING', `archive ${archive} ends before ${remaining.size} entr${remaining.size === 1 ? 'y' : 'ies'} its manifest lists, first ${first}`, {
      hint: 'The archive is incomplete; nothing was changed. Restore from another backup (ferry list).',
    });
  }
  const unread = manifest.entries.map((entry) => entryKey(entry.path)).filter((key) => !reached.has(key));
  if (unread.length > 0) log.debug(`not read, since nothing restores ${unread.length === 1 ? 'it' : 'them'}: ${unread.slice(0, 3).join(', ')}${unread.length > 3 ? ` and ${unread.length - 3} more` : ''}`);
}

function usedEntries(manifest: Manifest, stagings: ReadonlyMap<string, RestoreStaging>): Set<string> {
  const used = new Set<string>();
  for (const [prefix, staging] of stagings) {
    const relative = manifest.entries.filter((entry) => entry.path.startsWith(prefix)).map((entry) => entry.path.slice(prefix.length));
    for (const path of staging.uses?.(relative) ?? relative) used.add(entryKey(prefix + path));
  }
  return used;
}
