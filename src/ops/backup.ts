import { mkdir, mkdtemp, rm, statfs, access, stat, readdir } from 'node:fs/promises';
import { constants } from 'node:fs';
import { hostname } from 'node:os';
import { basename, join } from 'node:path';
import {
  ArchiveWriter, archiveNameFor, CHECKSUM_SUFFIX, FORMAT_VERSION, INFO_ENTRY, isArchiveName,
  MANIFEST_ENTRY, MANIFEST_SUFFIX, writeFileAtomic, type Manifest, type StoreManifest,
} from '../archive/index.js';
import { FerryError, throwIfAborted } from '../errors/index.js';
import { storesFromConfig, type StoreContext } from '../stores/index.js';
import { formatBytes } from '../util/format.js';
import { FERRY_VERSION } from '../version.js';
import { renderBackupInfo } from './backup-info.js';
import type { OperationContext } from './context.js';
import { acquireLock } from './lock.js';
import { applyPrune, type PruneResult } from './prune.js';
import { recordVerification, verifyArchive } from './verify.js';

export interface BackupOptions {
  /** Skip retention after the backup. */
  noPrune?: boolean;
}

export interface BackupResult {
  archive: string;
  size: number;
  sha256: string;
  manifest: Manifest;
  durationSeconds: number;
  prune: PruneResult | undefined;
  warnings: string[];
}

/**
 * Dumps every configured store into one archive. The archive appears under its final name only once
 * it is complete and re-read against its checksums; retention runs only after that.
 */
export async function backup(ctx: OperationContext, options: BackupOptions = {}): Promise<BackupResult> {
  const started = Date.now();
  const stores = storesFromConfig(ctx.config);
  if (stores.length === 0) {
    throw new FerryError('NO_STORES', 'nothing to back up: no store is configured', {
      hint: 'Set DATABASE_URL and/or UPLOADS_DIR, or write a ferry.config.yaml (see docs/configuration.md).',
    });
  }
  const directory = ctx.config.backup.directory;
  await prepareDirectory(directory);
  const lock = await acquireLock(directory, 'backup');
  const tempRoot = ctx.config.backup.temp_directory ?? directory;
  let tempDir: string | undefined;
  let writer: ArchiveWriter | undefined;
  try {
    await mkdir(tempRoot, { recursive: true, mode: 0o700 });
    tempDir = await mkdtemp(join(tempRoot, '.ferry-tmp-'));
    const storeCtx: StoreContext = { signal: ctx.signal, log: ctx.log, progress: ctx.progress, redactor: ctx.redactor, tempDir };

    let estimated = 0;
    for (const store of stores) {
      throwIfAborted(ctx.signal);
      const report = await store.preflight(storeCtx);
      ctx.log.info(`preflight ${report.summary}`);
      estimated += report.estimatedBytes ?? 0;
    }
    await checkFreeSpace(directory, estimated);

    const now = await unusedSecond(directory, ctx.now?.() ?? new Date(), ctx.now === undefined);
    const name = archiveNameFor(now);
    const finalPath = join(directory, name);
    writer = await ArchiveWriter.create(finalPath, { compressionLevel: ctx.config.backup.compression_level });

    const storeManifests: Record<string, StoreManifest> = {};
    for (const store of stores) {
      throwIfAborted(ctx.signal);
      ctx.log.info(`dumping ${store.describe()}`);
      const manifest = await store.dump(writer, storeCtx);
      throwIfAborted(ctx.signal);
      storeManifests[store.kind] = manifest;
      ctx.log.info(`${store.kind}: ${Object.keys(manifest.counts).length} objects, ${formatBytes(manifest.bytes)} in ${manifest.durationSeconds.toFixed(1)} s`);
    }

    const head: Omit<Manifest, 'entries'> = {
      format: 'ferry-archive',
      formatVersion: FORMAT_VERSION,
      tool: { name: 'ferry', version: FERRY_VERSION },
      createdAt: now.toISOString(),
      host: hostname(),
      durationSeconds: (Date.now() - started) / 1000,
      stores: storeManifests,
    };
    await writer.addBuffer(INFO_ENTRY, Buffer.from(renderBackupInfo(head, name)), { mode: 0o600, mtime: now });
    const manifest: Manifest = { ...head, entries: [...writer.entries] };
    const manifestText = JSON.stringify(manifest, null, 2) + '\n';
    await writer.addBuffer(MANIFEST_ENTRY, Buffer.from(manifestText), { mode: 0o600, mtime: now });
    const finished = await writer.finish();

    // The same proof as `ferry verify`, before the archive gets its name: a backup that does not
    // verify never becomes one, and never triggers retention.
    ctx.progress.start('verifying the archive just written');
    const verification = await verifyArchive(ctx, finished.partialPath, manifest);
    throwIfAborted(ctx.signal);
    const firstProblem = verification.findings[0];
    if (firstProblem !== undefined) {
      throw new FerryError('ARCHIVE_CORRUPT', `the archive just written does not verify: ${firstProblem.problem}`, {
        hint: 'Nothing was kept and nothing was pruned; check the disk of the backup directory and run the backup again.',
      });
    }
    ctx.progress.done(`archive verified in ${verification.durationSeconds.toFixed(1)} s`);

    await writeFileAtomic(finalPath + CHECKSUM_SUFFIX, `${finished.sha256}  ${name}\n`);
    await writeFileAtomic(finalPath + MANIFEST_SUFFIX, manifestText);
    await writer.commit();
    writer = undefined;
    await recordVerification(ctx, finalPath, verification);
    ctx.log.info(`wrote ${finalPath} (${formatBytes(finished.size)})`);

    const warnings = Object.values(storeManifests).flatMap((m) => m.warnings);
    const prune = options.noPrune === true ? undefined : await applyPrune(ctx, { lockHeld: true });
    return {
      archive: finalPath,
      size: finished.size,
      sha256: finished.sha256,
      manifest,
      durationSeconds: (Date.now() - started) / 1000,
      prune,
      warnings,
    };
  } finally {
    if (writer !== undefined) await writer.discard();
    if (tempDir !== undefined) await rm(tempDir, { recursive: true, force: true });
    await lock.release();
  }
}

/**
 * Archives are named by the second; a second backup within the same second (the lock makes them
 * sequential) waits for the next one instead of failing or overwriting.
 */
async function unusedSecond(directory: string, start: Date, realClock: boolean): Promise<Date> {
  let when = start;
  while (await stat(join(directory, archiveNameFor(when))).then(() => true, () => false)) {
    if (!realClock) {
      throw new FerryError('USAGE', `archive ${archiveNameFor(when)} already exists`, { hint: 'Archives are named by the second; run the backup again.' });
    }
    await new Promise((resolveWait) => setTimeout(resolveWait, 1000 - (Date.now() % 1000) + 5));
    when = new Date();
  }
  return when;
}

async function prepareDirectory(directory: string): Promise<void> {
  try {
    await mkdir(directory, { recursive: true, mode: 0o700 });
    await access(directory, constants.W_OK);
  } catch (cause) {
    throw new FerryError('BACKUP_DIR_UNWRITABLE', `backup directory ${directory} cannot be created or written`, {
      hint: 'Create it with write access for the user running ferry, or set BACKUP_DIRECTORY to one that is writable.',
      cause,
    });
  }
}

/** Needs room for the estimate, or for the last archive when that is larger (it is the better guide). */
async function checkFreeSpace(directory: string, estimated: number): Promise<void> {
  const last = await lastArchiveSize(directory);
  const needed = Math.max(estimated, last ?? 0);
  const fs = await statfs(directory);
  const free = fs.bavail * fs.bsize;
  if (free < needed) {
    throw new FerryError('DISK_FULL', `backup directory ${directory} has ${formatBytes(free)} free, the backup needs about ${formatBytes(needed)}`, {
      hint: 'Free space there (ferry prune, or a lower BACKUP_RETENTION_DAYS), or point BACKUP_DIRECTORY at a larger disk.',
    });
  }
}

async function lastArchiveSize(directory: string): Promise<number | undefined> {
  const names = (await readdir(directory)).filter(isArchiveName).sort();
  const newest = names.at(-1);
  if (newest === undefined) return undefined;
  return (await stat(join(directory, basename(newest)))).size;
}
