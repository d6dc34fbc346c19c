import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { checksumLine, CHECKSUM_SUFFIX, MANIFEST_SUFFIX, VERIFY_SUFFIX } from '../archive/index.js';
import { FerryError, isFerryError, throwIfAborted } from '../errors/index.js';
import { parseRemoteUrl, remoteUrl } from '../remote/index.js';
import type { S3Repository } from '../repository/index.js';
import { planPrune } from '../retention/index.js';
import { formatBytes } from '../util/format.js';
import { detailedCatalog, localBackupAt, locateArchive, manifestOf, recordedSha256 } from './catalog.js';
import { baseOf, isDelta, resolveChain } from './chain.js';
import type { OperationContext } from './context.js';
import { pruneRepository, retentionPolicy } from './prune.js';
import { localRepository, withRemote } from './remote.js';

export interface PushResult {
  remote: string;
  uploaded: Array<{ name: string; size: number; seconds: number }>;
  /** Already complete on the remote with the same sha256. */
  present: string[];
}

async function localSha256(archivePath: string): Promise<string> {
  const { repository, name } = localBackupAt(archivePath);
  const sha256 = await recordedSha256(repository, name);
  if (sha256 === undefined) {
    throw new FerryError('ARCHIVE_ENTRY_MISSING', `${archivePath + CHECKSUM_SUFFIX} is missing, so ${basename(archivePath)} cannot be checked after upload`, {
      hint: 'Run ferry verify on the archive first; only verified backups are pushed.',
    });
  }
  return sha256;
}

/**
 * Uploads one local backup: the archive, then its manifest and verify sidecars, and the .sha256
 * sidecar last, so a remote backup is complete exactly when its .sha256 is there.
 */
export async function pushOne(ctx: OperationContext, remote: S3Repository, archivePath: string): Promise<{ uploaded: boolean; size: number; seconds: number }> {
  const name = basename(archivePath);
  const sha256 = await localSha256(archivePath);
  if (await recordedSha256(remote, name) === sha256 && (await remote.store.head(name, ctx.signal)) !== undefined) {
    ctx.log.info(`${name} is already at ${remote.where}`);
    return { uploaded: false, size: 0, seconds: 0 };
  }
  const started = Date.now();
  ctx.progress.start(`uploading ${name} to ${remote.where}`);
  const { size } = await remote.store.upload(archivePath, name, { signal: ctx.signal, expectedSha256: sha256, onProgress: (sent) => ctx.progress.update(sent) });
  for (const suffix of [MANIFEST_SUFFIX, VERIFY_SUFFIX]) {
    const text = await readFile(archivePath + suffix, 'utf8').catch(() => undefined);
    if (text !== undefined) await remote.writeSidecar(name, suffix, text);
  }
  await remote.writeSidecar(name, CHECKSUM_SUFFIX, checksumLine(sha256, name));
  const seconds = (Date.now() - started) / 1000;
  ctx.progress.done(`uploaded ${name}: ${formatBytes(size)} in ${seconds.toFixed(1)} s, ETag and sha256 checked`);
  ctx.log.info(`uploaded ${name} to ${remote.where} (${formatBytes(size)}, ${seconds.toFixed(1)} s)`);
  return { uploaded: true, size, seconds };
}

/**
 * `ferry push [archive]`: that archive, or every local backup the remote lacks (or holds only in
 * part) that the remote's retention would keep — so a push after failed uploads catches up without
 * re-sending what remote pruning already removed.
 */
export async function push(ctx: OperationContext, reference?: string): Promise<PushResult> {
  return withRemote(ctx, async (remote) => {
    const result: PushResult = { remote: remote.where, uploaded: [], present: [] };
    let candidates: string[];
    if (reference !== undefined) {
      const archive = await locateArchive(reference, ctx.config.backup.directory);
      // A delta is of no use on the remote without its chain: the links go first (those there already are skipped).
      candidates = [...await chainLinks(ctx, archive), archive];
    } else {
      const detailed = (await detailedCatalog(localRepository(ctx))).backups;
      const local = detailed.filter((b) => b.hasChecksum);
      const remoteBackups = (await remote.catalog()).backups.filter((b) => b.hasChecksum);
      const onRemote = new Set(remoteBackups.map((b) => b.name));
      // Bases as the local sidecars record them: retention keeps a kept delta's chain, so it is pushed too.
      const bases = new Map(detailed.map((b) => [b.name, b.manifest === undefined ? undefined : baseOf(b.manifest)?.name]));
      const records = [...remoteBackups, ...local.filter((b) => !onRemote.has(b.name))].map((b) => ({ name: b.name, time: b.time, verified: undefined, base: bases.get(b.name) }));
      const kept = new Set(planPrune(records, retentionPolicy(ctx), ctx.now?.() ?? new Date()).keep.map((d) => d.name));
      candidates = local.filter((b) => kept.has(b.name)).map((b) => b.path).reverse();
    }
    for (const path of candidates) {
      throwIfAborted(ctx.signal);
      const outcome = await pushOne(ctx, remote, path);
      if (outcome.uploaded) result.uploaded.push({ name: basename(path), size: outcome.size, seconds: outcome.seconds });
      else result.present.push(basename(path));
    }
    return result;
  });
}

/** The local archives a delta builds on, the full first; none for a full or when the chain is broken here. */
async function chainLinks(ctx: OperationContext, archive: string): Promise<string[]> {
  const manifest = await manifestOf(archive, ctx.signal, { sidecarOnly: true }).catch(() => undefined);
  if (manifest === undefined || !isDelta(manifest)) return [];
  try {
    const { repository, name } = localBackupAt(archive);
    return (await resolveChain(repository, name, manifest)).map((link) => link.path);
  } catch (error) {
    if (!isFerryError(error) || error.code !== 'CHAIN_LINK_MISSING') throw error;
    ctx.log.warn(`${error.message}; pushing ${basename(archive)} alone`);
    return [];
  }
}

export type UploadOutcome =
  | { ok: true; remote: string; seconds: number; pruned: string[] }
  | { ok: false; remote: string; error: FerryError };

/**
 * After `ferry backup`: uploads the new archive when storage.remote is set, then applies retention
 * there. A failure is returned, not thrown: the local backup stands and `ferry push` retries.
 */
export async function uploadNewBackup(ctx: OperationContext, archivePath: string, prune: boolean): Promise<UploadOutcome | undefined> {
  const storage = ctx.config.storage;
  if (storage?.remote === undefined || !storage.upload_after_backup) return undefined;
  try {
    return await withRemote(ctx, async (remote) => {
      const { seconds } = await pushOne(ctx, remote, archivePath);
      const pruned = prune ? (await pruneRepository(ctx, remote)).removed : [];
      return { ok: true as const, remote: remote.where, seconds, pruned };
    });
  } catch (error) {
    if (ctx.signal.aborted || !isFerryError(error)) throw error;
    return { ok: false, remote: remoteUrl(parseRemoteUrl(storage.remote)), error };
  }
}
