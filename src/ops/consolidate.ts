import { rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import {
  ArchiveWriter, archiveNameFor, chainFileList, checksumLine, CHECKSUM_SUFFIX, DELETIONS_ENTRY, drain, FULL_FORMAT_VERSION, INFO_ENTRY, MANIFEST_ENTRY, MANIFEST_SUFFIX,
  readArchiveChecked, sidecarNames, timeOfArchiveName, updateLatestLink, type ArchiveEntryHeader, type ArchiveSink, type Manifest,
} from '../archive/index.js';
import { archiveCompression } from '../config/index.js';
import { FerryError, throwIfAborted } from '../errors/index.js';
import { plural } from '../util/format.js';
import { removeWhatDeadRunsLeft, writeSidecar } from './backup.js';
import { renderBackupInfo } from './backup-info.js';
import { catalog, localBackupAt, locateArchive, manifestOf } from './catalog.js';
import { CHAIN_PREFIX, CHAIN_STORE, isDelta, resolveChain } from './chain.js';
import type { OperationContext } from './context.js';
import { acquireLock } from './lock.js';
import { ChainFeed, readChainLink } from './restore/chain-feed.js';
import { recordVerification, verifyBackup } from './verify.js';

export interface ConsolidateResult {
  /** The delta consolidated. */
  from: string;
  /** The synthetic full, one second after it; undefined when `from` was a full already. */
  archive: string | undefined;
  size: number;
  /** The archives read: the chain's full, its deltas, and `from`. */
  chain: string[];
}

/**
 * A synthetic full of a delta: its databases as they are, and its uploads taken from its chain (the
 * full and the deltas, read and checked, never the uploads folder). Written beside it and named one
 * second after it (it holds the same moment), so the next backup builds on it and retention can let
 * the old chain go. The delta itself stays: later deltas are built on it.
 */
export async function consolidate(ctx: OperationContext, reference: string): Promise<ConsolidateResult> {
  const from = await locateArchive(reference, ctx.config.backup.directory);
  const manifest = await manifestOf(from, ctx.signal);
  if (!isDelta(manifest)) return { from, archive: undefined, size: (await stat(from)).size, chain: [basename(from)] };
  const directory = dirname(from);
  const lock = await acquireLock(directory, 'consolidate');
  let writer: ArchiveWriter | undefined;
  let committed: string | undefined;
  try {
    // A consolidate killed outright leaves its .partial under the very name this run picks.
    await removeWhatDeadRunsLeft(ctx, directory, directory);
    const { repository, name } = localBackupAt(from);
    const links = await resolveChain(repository, name, manifest);
    const output = join(directory, await freeName(directory, from));
    const compression = archiveCompression(ctx.config.backup);
    writer = await ArchiveWriter.create(output, { codec: manifest.compression?.codec ?? compression.codec, compressionLevel: manifest.compression?.level ?? compression.level });
    const feed = new ChainFeed(chainFileList(manifest, CHAIN_PREFIX), basename(from));
    const entries = new Map(manifest.entries.map((entry) => [entry.path, entry]));
    const sink: ArchiveSink = writer;
    let uploadsBytes = 0;
    const copy = async (header: ArchiveEntryHeader, data: Readable) => {
      if (header.type === 'file' && header.path.startsWith(CHAIN_PREFIX)) uploadsBytes += header.size;
      await copyEntry(sink, header, data, entries.get(header.path)?.seek !== undefined);
    };
    for (const link of links) {
      throwIfAborted(ctx.signal);
      ctx.progress.start(`reading ${link.path}`);
      await readChainLink(link, feed, copy, { signal: ctx.signal });
      ctx.progress.done();
    }
    // The delta itself, read whole: its databases go into the full as they are.
    ctx.progress.start(`reading ${from}`);
    const inner = await readArchiveChecked(from, manifest, async (header, data) => {
      const selected = header.path.startsWith(CHAIN_PREFIX) ? feed.select(header, basename(from), entries)
        : [INFO_ENTRY, DELETIONS_ENTRY].includes(header.path) ? undefined : header;
      if (selected === undefined) return drain(data);
      await copy(selected, data);
    }, { signal: ctx.signal });
    feed.confirm(basename(from), inner);
    ctx.progress.done();
    feed.assertComplete();

    const { entries: _entries, chainFiles: _files, chainDeleted: _deleted, ...rest } = manifest;
    const uploads = manifest.stores[CHAIN_STORE];
    const head: Omit<Manifest, 'entries'> = {
      ...rest,
      formatVersion: FULL_FORMAT_VERSION,
      stores: { ...manifest.stores, ...(uploads === undefined ? {} : { [CHAIN_STORE]: { ...uploads, chain: { kind: 'full', position: 0, writtenBytes: uploadsBytes } } }) },
    };
    await writer.addBuffer(INFO_ENTRY, Buffer.from(`${renderBackupInfo(head, basename(output))}\nA synthetic full of ${basename(from)}, made from ${plural(links.length + 1, 'archive')} of its chain.\n`), { mode: 0o600 });
    const text = JSON.stringify({ ...head, entries: await writer.manifestEntries() }, null, 2) + '\n';
    await writer.addBuffer(MANIFEST_ENTRY, Buffer.from(text), { mode: 0o600 });
    const finished = await writer.finish();
    await writeSidecar(output + CHECKSUM_SUFFIX, checksumLine(finished.sha256, basename(output)));
    await writeSidecar(output + MANIFEST_SUFFIX, text);
    committed = await writer.commit();
    writer = undefined;
    const written = localBackupAt(output);
    const report = await verifyBackup(ctx, written.repository, written.name);
    await recordVerification(ctx, written.repository, written.name, report);
    if (!report.ok) {
      throw new FerryError('ARCHIVE_CORRUPT', `the synthetic full ${basename(output)} does not verify: ${report.findings[0]?.problem ?? '?'}`, { hint: 'It was removed; check the disk of the backup directory and run ferry consolidate again.' });
    }
    if (ctx.config.backup.latest_link && (await catalog(directory)).backups[0]?.name === basename(output)) {
      for (const warning of await updateLatestLink(directory, basename(output)).catch((error: unknown) => [`could not update backup_latest: ${(error as Error).message}`])) ctx.log.warn(warning);
    }
    return { from, archive: output, size: finished.size, chain: [...links.map((l) => l.name), basename(from)] };
  } catch (error) {
    if (committed !== undefined) for (const path of [committed, ...sidecarNames(basename(committed)).map((n) => join(directory, n))]) await rm(path, { force: true });
    throw error;
  } finally {
    await writer?.discard();
    await lock.release();
  }
}

/** Copies an entry as it is; `seekPoint` keeps the delta's seek point (its dump) in the full. */
async function copyEntry(sink: ArchiveSink, header: ArchiveEntryHeader, data: Readable, seekPoint: boolean): Promise<void> {
  const attributes = { mode: header.mode, mtime: header.mtime, seekPoint };
  if (header.type === 'directory') {
    await drain(data);
    await sink.addDirectory(header.path, attributes);
  } else if (header.type === 'symlink') {
    await drain(data);
    await sink.addSymlink(header.path, header.linkTarget ?? '', attributes);
  } else {
    await sink.addStream(header.path, data, header.size, attributes);
  }
}

/** The first free name from one second after the delta's: the synthetic full holds the same moment. */
async function freeName(directory: string, from: string): Promise<string> {
  const time = timeOfArchiveName(basename(from));
  if (time === undefined) throw new FerryError('USAGE', `${basename(from)} is not named as Ferry names backups`, { hint: 'Consolidate a backup in the backup directory (ferry list).' });
  const extension = basename(from).replace(/^backup_\d{8}_\d{6}/, '');
  for (let second = 1; ; second++) {
    const name = archiveNameFor(new Date(time.getTime() + second * 1000)).replace(/\.tar\.gz$/, extension);
    if (!(await stat(join(directory, name)).then(() => true, () => false))) return name;
  }
}
