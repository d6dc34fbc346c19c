import { constants, readFileSync } from 'node:fs';
import { access, chmod, mkdir, mkdtemp, readdir, rm, stat, statfs } from 'node:fs/promises';
import { PassThrough } from 'node:stream';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import {
  AGE_SUFFIX, ArchiveWriter, archiveNameFor, updateLatestLink, checksumLine, CHECKSUM_SUFFIX, type EncryptionSettings, FORMAT_VERSION, FULL_FORMAT_VERSION, INFO_ENTRY,
  MANIFEST_ENTRY, MANIFEST_SUFFIX, writeFileAtomic, type Manifest, type StoreManifest,
} from '../archive/index.js';
import { writeError } from '../archive/writer.js';
import { archiveCompression } from '../config/index.js';
import { FerryError, throwIfAborted } from '../errors/index.js';
import { storesFromConfig, type ChainBase, type ChainList, type StagedDump, type Store, type StoreContext } from '../stores/index.js';
import { formatBytes, plural } from '../util/format.js';
import { FERRY_VERSION } from '../version.js';
import { renderBackupInfo } from './backup-info.js';
import { catalog, localBackupAt, withDetails } from './catalog.js';
import { CHAIN_STORE, findChainBase } from './chain.js';
import { LocalRepository } from '../repository/index.js';
import type { OperationContext } from './context.js';
import { findLeftovers, removeLeftovers, tempFolderPrefix, type Leftover } from './leftovers.js';
import { acquireLock } from './lock.js';
import { applyPrune, type PruneResult } from './prune.js';
import { uploadNewBackup, type UploadOutcome } from './push.js';
import { recordVerification, verifyWhileWriting, type VerifyReport } from './verify.js';

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
  /** The upload to storage.remote, when one is configured. */
  upload: UploadOutcome | undefined;
  warnings: string[];
  /** What a run that died (kill -9, OOM) had left in the backup and temp directories, now removed. */
  leftoversRemoved: Leftover[];
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
  await prepareDirectory(directory, ctx);
  const lock = await acquireLock(directory, 'backup');
  const tempRoot = ctx.config.backup.temp_directory ?? directory;
  let tempDir: string | undefined;
  let writer: ArchiveWriter | undefined;
  let verifying: Promise<VerifyReport> | undefined;
  try {
    const leftoversRemoved = await removeWhatDeadRunsLeft(ctx, directory, tempRoot);
    try {
      await mkdir(tempRoot, { recursive: true, mode: 0o700 });
      tempDir = await mkdtemp(join(tempRoot, tempFolderPrefix()));
    } catch (cause) {
      throw writeError(cause, tempRoot);
    }
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
    const encryption = encryptionSettings(ctx);
    const compression = archiveCompression(ctx.config.backup);
    const name = archiveNameFor(now, compression.codec) + (encryption === undefined ? '' : AGE_SUFFIX);
    const finalPath = join(directory, name);
    // The clear archive is verified as it is written, in the same pass: no re-read, and an encrypted
    // archive is proven without the key the server does not have.
    const tap = new PassThrough({ highWaterMark: 1024 * 1024 });
    writer = await ArchiveWriter.create(finalPath, { codec: compression.codec, compressionLevel: compression.level, tap, ...(encryption === undefined ? {} : { encryption }) });
    const contentProven = new Set<string>();
    verifying = verifyWhileWriting(ctx, tap, finalPath, contentProven);
    verifying.catch(() => undefined);

    const previous = await previousStores(directory);
    const base = await chainBase(ctx, stores, directory, encryption !== undefined);
    const { manifests: storeManifests, chainList } = await stageAndWrite(stores, writer, storeCtx, ctx, contentProven, previous, base);
    ctx.progress.start('finishing the archive: manifest, checksums and verification');

    const head: Omit<Manifest, 'entries'> = {
      format: 'ferry-archive',
      // Only a delta needs a Ferry that knows chains; a full stays readable by older ones.
      formatVersion: chainList === undefined ? FULL_FORMAT_VERSION : FORMAT_VERSION,
      compression,
      tool: { name: 'ferry', version: FERRY_VERSION },
      createdAt: now.toISOString(),
      host: hostname(),
      durationSeconds: (Date.now() - started) / 1000,
      stores: storeManifests,
    };
    await writer.addBuffer(INFO_ENTRY, Buffer.from(renderBackupInfo(head, name)), { mode: 0o600, mtime: now });
    // The complete file list comes after the entries: list and health read sidecars only up to them.
    const manifest: Manifest = { ...head, entries: await writer.manifestEntries(), ...(chainList === undefined ? {} : { chainFiles: chainList.files, chainDeleted: chainList.deleted }) };
    const manifestText = JSON.stringify(manifest, null, 2) + '\n';
    await writer.addBuffer(MANIFEST_ENTRY, Buffer.from(manifestText), { mode: 0o600, mtime: now });
    const finished = await writer.finish();

    // The same proof as `ferry verify`, before the archive gets its name: a backup that does not
    // verify never becomes one, and never triggers retention.
    const verification = await verifying;
    throwIfAborted(ctx.signal);
    const firstProblem = verification.findings[0];
    if (firstProblem !== undefined) {
      throw new FerryError('ARCHIVE_CORRUPT', `the archive just written does not verify: ${firstProblem.problem}`, {
        hint: 'Nothing was kept and nothing was pruned; check the disk of the backup directory and run the backup again.',
      });
    }
    ctx.progress.done();
    ctx.log.info('archive verified while it was written');

    await writeSidecar(finalPath + CHECKSUM_SUFFIX, checksumLine(finished.sha256, name));
    await writeSidecar(finalPath + MANIFEST_SUFFIX, encryption === undefined ? manifestText : sidecarForEncrypted(manifest, encryption));
    await writer.commit();
    writer = undefined;
    const written = localBackupAt(finalPath);
    await recordVerification(ctx, written.repository, written.name, verification);
    ctx.log.info(`wrote ${finalPath} (${formatBytes(finished.size)})`);
    if (ctx.config.backup.latest_link) await linkLatest(ctx, finalPath);

    const warnings = Object.values(storeManifests).flatMap((m) => m.warnings);
    const prune = options.noPrune === true ? undefined : await applyPrune(ctx, { lockHeld: true });
    const upload = await uploadNewBackup(ctx, finalPath, options.noPrune !== true);
    return {
      archive: finalPath,
      size: finished.size,
      sha256: finished.sha256,
      manifest,
      durationSeconds: (Date.now() - started) / 1000,
      prune,
      upload,
      warnings,
      leftoversRemoved,
    };
  } finally {
    // A directory that became unwritable part-way cannot be cleaned either: that is said, and the
    // next backup removes what is left, but the error reported stays the one that stopped this run.
    const cleanup = async (what: string, step: () => Promise<unknown>) => {
      try {
        await step();
      } catch (error) {
        ctx.log.warn(`could not remove ${what} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); the next backup removes it`);
      }
    };
    if (writer !== undefined) await cleanup(`the partial archive in ${directory}`, () => (writer as ArchiveWriter).discard());
    await verifying?.catch(() => undefined);
    if (tempDir !== undefined) await cleanup(tempDir, () => rm(tempDir as string, { recursive: true, force: true }));
    await cleanup(`the lock in ${directory}`, () => lock.release());
  }
}

/**
 * Holding the lock, nothing in the backup directory belongs to a live run: a `.partial`, a temp folder
 * or a sidecar's temp file there was left by a run that was killed outright.
 */
export async function removeWhatDeadRunsLeft(ctx: OperationContext, directory: string, tempRoot: string): Promise<Leftover[]> {
  const leftovers = await findLeftovers(directory, { tempDirectory: tempRoot, lockHeld: true });
  if (leftovers.length === 0) return [];
  await removeLeftovers(leftovers);
  const total = leftovers.reduce((sum, l) => sum + l.bytes, 0);
  ctx.log.warn(`removed what an interrupted run left (${formatBytes(total)}): ${leftovers.map((l) => `${l.path} (${l.kind}, ${formatBytes(l.bytes)})`).join(', ')}`);
  return leftovers;
}

/** A sidecar beside the archive; a full or read-only disk is the target's fault, never a bug. */
export async function writeSidecar(path: string, content: string): Promise<void> {
  try {
    await writeFileAtomic(path, content);
  } catch (cause) {
    throw writeError(cause, path);
  }
}

/**
 * Every store reads its source at the same time (a PostgreSQL dump, a MongoDB dump, the uploads
 * folder need different resources); the archive, a single stream, takes each store's entries as soon
 * as its staging is done. The first failure stops the others and is the one reported.
 */
async function stageAndWrite(
  stores: Store[], writer: ArchiveWriter, storeCtx: StoreContext, ctx: OperationContext, contentProven: Set<string>, previous: Manifest['stores'], base: ChainBase | undefined,
): Promise<{ manifests: Record<string, StoreManifest>; chainList: ChainList | undefined }> {
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  let firstFailure: unknown;
  const pending = new Map<Store, Promise<{ store: Store; staged: StagedDump }>>();
  try {
    for (const store of stores) {
      const tempDir = join(storeCtx.tempDir, store.kind);
      await mkdir(tempDir, { mode: 0o700 });
      ctx.log.info(`dumping ${store.describe()}`);
      const before = previous[store.kind];
      const chainBaseHere = store.kind === CHAIN_STORE ? base : undefined;
      const staging = store.stage({ ...storeCtx, signal: stop.signal, tempDir, ...(before === undefined ? {} : { previous: before }), ...(chainBaseHere === undefined ? {} : { base: chainBaseHere }) })
        .then((staged) => ({ store, staged }))
        .catch((error: unknown) => {
          firstFailure ??= error;
          stop.abort();
          throw error;
        });
      staging.catch(() => undefined);
      pending.set(store, staging);
    }
    const manifests: Record<string, StoreManifest> = {};
    let chainList: ChainList | undefined;
    while (pending.size > 0) {
      const { store, staged } = await Promise.race(pending.values());
      pending.delete(store);
      throwIfAborted(ctx.signal);
      for (const path of staged.contentProven ?? []) contentProven.add(path);
      ctx.progress.start(`finishing the archive: compressing ${store.kind} into it`);
      const manifest = await staged.write(writer);
      ctx.progress.done();
      manifests[store.kind] = manifest;
      chainList ??= staged.chainList?.();
      ctx.log.info(`${store.kind}: ${plural(Object.keys(manifest.counts).length, 'object')}, ${formatBytes(manifest.bytes)} in ${manifest.durationSeconds.toFixed(1)} s`);
    }
    // The manifest lists stores in configuration order, whatever order they were written in.
    return { manifests: Object.fromEntries(stores.map((store) => [store.kind, manifests[store.kind] as StoreManifest])), chainList };
  } catch (error) {
    // Writing into the archive can fail first (a full disk); the stores stopped because of it then
    // report INTERRUPTED, which must not hide the cause.
    firstFailure ??= error;
    stop.abort();
    await Promise.allSettled(pending.values());
    throw ctx.signal.aborted ? error : await asDiskFull(firstFailure ?? error, storeCtx.tempDir);
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
  }
}

/**
 * With uploads.incremental: the backup a delta of the uploads folder would build on. An encrypted
 * backup lists no files beside it, so with encryption every backup is full.
 */
async function chainBase(ctx: OperationContext, stores: Store[], directory: string, encrypted: boolean): Promise<ChainBase | undefined> {
  const store = stores.find((s) => s.kind === CHAIN_STORE);
  if (ctx.config.uploads?.incremental !== true || store === undefined) return undefined;
  if (encrypted) {
    ctx.log.info('uploads.incremental: the backup is encrypted, so its uploads are written in full');
    return undefined;
  }
  return findChainBase(new LocalRepository(directory), store.describe(), ctx.log);
}

/** The stores of the newest backup's manifest sidecar, for progress estimates; none when there is none. */
async function previousStores(directory: string): Promise<Manifest['stores']> {
  try {
    const repository = new LocalRepository(directory);
    const newest = (await repository.catalog()).backups.find((b) => b.hasManifestSidecar);
    return newest === undefined ? {} : ((await withDetails(repository, newest, { entries: false })).manifest?.stores ?? {});
  } catch {
    return {};
  }
}

/**
 * A tool that ran out of space while staging its dump fails in its own words (pg_dump "no space left
 * on device", or pg_restore finding pg_dump's file cut short); with the temp folder's disk full, that
 * is the disk's fault, and gets the disk's code and hint.
 */
async function asDiskFull(error: unknown, tempDir: string): Promise<unknown> {
  if (!(error instanceof FerryError) || error.code === 'DISK_FULL' || error.code === 'INTERRUPTED') return error;
  const free = await statfs(tempDir).then((fs) => fs.bavail * fs.bsize, () => Number.POSITIVE_INFINITY);
  if (!/no space left on device/i.test(error.message) && free >= 64 * 1024) return error;
  return new FerryError('DISK_FULL', `no space left while staging the dumps in ${tempDir}: ${error.message}`, {
    hint: 'Free space there (ferry prune, or a lower BACKUP_RETENTION_DAYS), or set backup.temp_directory to a larger disk; nothing was pruned.',
    cause: error,
  });
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

/** backup.encryption: age recipients, or a passphrase read from a file or an environment variable. */
function encryptionSettings(ctx: OperationContext): EncryptionSettings | undefined {
  const config = ctx.config.backup.encryption;
  if (config === undefined) return undefined;
  let passphrase: string | undefined;
  if (config.passphrase_file !== undefined) {
    try {
      passphrase = readFileSync(config.passphrase_file, 'utf8').trim();
    } catch (cause) {
      throw new FerryError('CONFIG_INVALID', `backup.encryption.passphrase_file: cannot read ${config.passphrase_file}`, { hint: 'Create the file (mode 0600) or fix the path.', cause });
    }
  } else if (config.passphrase_env !== undefined) {
    passphrase = process.env[config.passphrase_env];
    if (passphrase === undefined || passphrase === '') {
      throw new FerryError('CONFIG_INVALID', `backup.encryption.passphrase_env: ${config.passphrase_env} is not set`, { hint: `Set ${config.passphrase_env} in the environment of the backup job.` });
    }
  }
  if (config.recipients.length === 0 && passphrase === undefined) return undefined;
  return { recipients: config.recipients, ...(passphrase === undefined ? {} : { passphrase }) };
}

/**
 * Beside an encrypted archive only what monitoring needs: times, versions, stores with their counts
 * and sizes — no entry list, so not even a file name of the uploads is readable without the key.
 */
function sidecarForEncrypted(manifest: Manifest, encryption: EncryptionSettings): string {
  const stores = Object.fromEntries(Object.entries(manifest.stores).map(([kind, store]) => [kind, { ...store, warnings: [] }]));
  return JSON.stringify({
    ...manifest,
    stores,
    entries: [],
    encryption: { recipients: encryption.recipients, passphrase: encryption.passphrase !== undefined },
  }, null, 2) + '\n';
}

async function prepareDirectory(directory: string, ctx: OperationContext): Promise<void> {
  let created: string | undefined;
  try {
    created = await mkdir(directory, { recursive: true, mode: 0o700 });
    await access(directory, constants.W_OK);
  } catch (cause) {
    throw new FerryError('BACKUP_DIR_UNWRITABLE', `backup directory ${directory} cannot be created or written`, {
      hint: 'Create it with write access for the user running ferry, or set BACKUP_DIRECTORY to one that is writable.',
      cause,
    });
  }
  if (created === undefined) await checkDirectoryMode(directory, ctx);
}

/**
 * Archives hold the whole database: a backup directory others can read is tightened to 0700 when it
 * is evidently Ferry's own (ours, and holding only what Ferry writes), and reported otherwise.
 */
async function checkDirectoryMode(directory: string, ctx: OperationContext): Promise<void> {
  const stats = await stat(directory);
  if ((stats.mode & 0o077) === 0) return;
  const mode = (stats.mode & 0o777).toString(8).padStart(4, '0');
  const names = await readdir(directory);
  const ours = (process.getuid === undefined || stats.uid === process.getuid()) && names.length > 0
    && names.every((n) => /^\.?backup_(\d{8}_\d{6}|latest)\.tar\.(?:gz|zst)/.test(n) || n.startsWith('.ferry'));
  if (ours) {
    try {
      await chmod(directory, stats.mode & 0o700);
      ctx.log.warn(`backup directory ${directory} was readable by other users (mode ${mode}); tightened it to ${((stats.mode & 0o700)).toString(8).padStart(4, '0')}`);
      return;
    } catch {
      // Fall through to the warning: the directory is still usable.
    }
  }
  ctx.log.warn(`backup directory ${directory} can be read by other users (mode ${mode}), and the archives hold all your data; run chmod 700 ${directory}`);
}

/** Needs room for the estimate, or for the last archive when that is larger (it is the better guide). */
async function checkFreeSpace(directory: string, estimated: number): Promise<void> {
  const last = (await catalog(directory)).backups[0]?.size;
  const needed = Math.max(estimated, last ?? 0);
  const fs = await statfs(directory);
  const free = fs.bavail * fs.bsize;
  if (free < needed) {
    throw new FerryError('DISK_FULL', `backup directory ${directory} has ${formatBytes(free)} free, the backup needs about ${formatBytes(needed)}`, {
      hint: 'Free space there (ferry prune, or a lower BACKUP_RETENTION_DAYS), or point BACKUP_DIRECTORY at a larger disk.',
    });
  }
}

/** backup_latest.tar.gz follows the newest archive; a link that cannot be made does not fail the backup. */
async function linkLatest(ctx: OperationContext, archive: string): Promise<void> {
  try {
    for (const warning of await updateLatestLink(dirname(archive), basename(archive))) ctx.log.warn(warning);
  } catch (error) {
    ctx.log.warn(`could not update backup_latest.tar.gz beside ${archive}: ${(error as Error).message}`);
  }
}
