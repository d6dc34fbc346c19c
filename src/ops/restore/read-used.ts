import { drain, entryKey, readArchiveHeadChecked, StopReading, type ArchiveEntryHeader, type Manifest, type ReadArchiveOptions } from '../../archive/index.js';
import { FerryError } from '../../errors/index.js';
import type { Logger, RestoreStaging } from '../../stores/index.js';

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
  const seek = first !== manifest.entries[0] && options.decrypt === undefined ? first?.seek : undefined;
  let reached: Set<string> | undefined;
  if (seek !== undefined && first !== undefined) {
    const missed = await usedPass(archive, manifest, used, route, { ...options, from: seek }, entryKey(first.path)).then(
      (pass) => {
        reached = pass;
        return undefined;
      },
      (error: unknown) => {
        if (!(error instanceof SeekMissed)) throw error;
        return error.message;
      },
    );
    if (missed === undefined) log.debug(`read from the seek point of ${first.path}: nothing before it is restored`);
    else log.debug(`reading from the seek point of ${first.path} failed before reaching it (${missed}); reading from the start`);
  }
  reached ??= await usedPass(archive, manifest, used, route, options, undefined);
  const unread = manifest.entries.map((entry) => entryKey(entry.path)).filter((key) => !reached?.has(key));
  if (unread.length > 0) log.debug(`not read, since nothing restores ${unread.length === 1 ? 'it' : 'them'}: ${unread.slice(0, 3).join(', ')}${unread.length > 3 ? ` and ${unread.length - 3} more` : ''}`);
}

/** A seek point that does not lead to its entry (a sidecar beside another archive), or damage before it: nothing was handed to a store. */
class SeekMissed extends Error {}

/**
 * One pass: hands each used entry to its store and returns the entries it read. From a seek point,
 * the first entry must be `expectFirst`; until it is reached, every failure is a SeekMissed.
 */
async function usedPass(
  archive: string,
  manifest: Manifest,
  used: ReadonlySet<string>,
  route: (header: ArchiveEntryHeader) => EntryRoute,
  options: ReadArchiveOptions,
  expectFirst: string | undefined,
): Promise<Set<string>> {
  const remaining = new Set(used);
  const reached = new Set<string>();
  try {
    await readArchiveHeadChecked(archive, manifest, async (header, data) => {
      if (remaining.size === 0) throw new StopReading();
      const key = entryKey(header.path);
      if (expectFirst !== undefined && reached.size === 0 && key !== expectFirst) throw new SeekMissed(`${header.path} is there`);
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
  } catch (error) {
    if (expectFirst !== undefined && reached.size === 0 && !(error instanceof SeekMissed)) throw new SeekMissed((error as Error).message);
    throw error;
  }
  if (expectFirst !== undefined && reached.size === 0) throw new SeekMissed('the archive ends there');
  if (remaining.size > 0) {
    const missing = [...remaining][0] as string;
    throw new FerryError('ARCHIVE_ENTRY_MISSING', `archive ${archive} ends before ${remaining.size} entr${remaining.size === 1 ? 'y' : 'ies'} its manifest lists, first ${missing}`, {
      hint: 'The archive is incomplete; nothing was changed. Restore from another backup (ferry list).',
    });
  }
  return reached;
}

function usedEntries(manifest: Manifest, stagings: ReadonlyMap<string, RestoreStaging>): Set<string> {
  const used = new Set<string>();
  for (const [prefix, staging] of stagings) {
    const relative = manifest.entries.filter((entry) => entry.path.startsWith(prefix)).map((entry) => entry.path.slice(prefix.length));
    for (const path of staging.uses?.(relative) ?? relative) used.add(entryKey(prefix + path));
  }
  return used;
}
