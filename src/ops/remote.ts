import { MANIFEST_SUFFIX, VERIFY_SUFFIX, parseManifest, type Manifest } from '../archive/index.js';
import { storageConfigSchema, type StorageConfig } from '../config/schema.js';
import { FerryError } from '../errors/index.js';
import { parseRemoteUrl, RemoteStore, type RemoteBackup, type RemoteLocation } from '../remote/index.js';
import { manifestFromHead, mapConcurrently, parseVerification, SIDECAR_HEAD_BYTES, type BackupDetails } from './catalog.js';
import type { OperationContext } from './context.js';

export type RemoteBackupDetails = BackupDetails & Pick<RemoteBackup, 'etag'>;

/** storage.remote, or `location` when a command names one itself (restore s3://…). */
export async function openRemote(ctx: OperationContext, location?: RemoteLocation): Promise<RemoteStore> {
  const storage: StorageConfig = ctx.config.storage ?? storageConfigSchema.parse({});
  const where = location ?? (storage.remote === undefined ? undefined : parseRemoteUrl(storage.remote));
  if (where === undefined) {
    throw new FerryError('REMOTE_NOT_CONFIGURED', 'no remote storage is configured', {
      hint: 'Set storage.remote: s3://bucket/prefix in the config file (or FERRY_STORAGE_REMOTE); see docs/operations.md.',
    });
  }
  return RemoteStore.open(storage, where);
}

/** Runs `work` with the remote open and closes it afterwards. */
export async function withRemote<T>(ctx: OperationContext, work: (remote: RemoteStore) => Promise<T>, location?: RemoteLocation): Promise<T> {
  const remote = await openRemote(ctx, location);
  try {
    return await work(remote);
  } finally {
    remote.close();
  }
}

/** A remote backup with its manifest (head only, unless `entries`) and last verification read. */
export async function remoteDetails(remote: RemoteStore, backup: RemoteBackup, options: { entries?: boolean; signal?: AbortSignal } = {}): Promise<RemoteBackupDetails> {
  let manifest: Manifest | undefined;
  if (backup.hasManifestSidecar) {
    const source = backup.path + MANIFEST_SUFFIX;
    const head = options.entries === false ? await remote.read(backup.name + MANIFEST_SUFFIX, { start: 0, end: SIDECAR_HEAD_BYTES - 1 }, options.signal) : undefined;
    manifest = head === undefined ? undefined : manifestFromHead(head, source);
    if (manifest === undefined) {
      const whole = await remote.read(backup.name + MANIFEST_SUFFIX, undefined, options.signal);
      manifest = whole === undefined ? undefined : parseManifest(whole.toString('utf8'), source);
    }
  }
  const verification = backup.hasVerifySidecar ? parseVerification((await remote.read(backup.name + VERIFY_SUFFIX, undefined, options.signal))?.toString('utf8')) : undefined;
  return { ...backup, manifest, verification };
}

/** Every remote backup with its sidecars read, eight requests at a time. */
export async function remoteDetailedCatalog(remote: RemoteStore, signal?: AbortSignal): Promise<{ backups: RemoteBackupDetails[]; foreign: string[] }> {
  const { backups, foreign } = await remote.catalog(signal);
  return { backups: await mapConcurrently(backups, 8, (b) => remoteDetails(remote, b, { entries: false, ...(signal === undefined ? {} : { signal }) })), foreign };
}
