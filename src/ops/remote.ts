import { storageConfigSchema, type StorageConfig } from '../config/schema.js';
import { FerryError } from '../errors/index.js';
import { parseRemoteUrl, type RemoteLocation } from '../remote/index.js';
import { LocalRepository, S3Repository, type BackupSummary, type Repository } from '../repository/index.js';
import type { OperationContext } from './context.js';

/** storage.remote, or `location` when a command names one itself (restore s3://…). */
export async function openRemote(ctx: OperationContext, location?: RemoteLocation): Promise<S3Repository> {
  const storage: StorageConfig = ctx.config.storage ?? storageConfigSchema.parse({});
  const where = location ?? (storage.remote === undefined ? undefined : parseRemoteUrl(storage.remote));
  if (where === undefined) {
    throw new FerryError('REMOTE_NOT_CONFIGURED', 'no remote storage is configured', {
      hint: 'Set storage.remote: s3://bucket/prefix in the config file (or FERRY_STORAGE_REMOTE); see docs/operations.md.',
    });
  }
  return S3Repository.open(storage, where, ctx.signal);
}

/** Runs `work` with the remote open and closes it afterwards. */
export async function withRemote<T>(ctx: OperationContext, work: (remote: S3Repository) => Promise<T>, location?: RemoteLocation): Promise<T> {
  const remote = await openRemote(ctx, location);
  try {
    return await work(remote);
  } finally {
    await remote.close();
  }
}

/** The backup directory, or with `remote` the copies at storage.remote. */
export async function withRepository<T>(ctx: OperationContext, options: { remote?: boolean }, work: (repository: Repository) => Promise<T>): Promise<T> {
  if (options.remote === true) return withRemote(ctx, work);
  return work(localRepository(ctx));
}

export function localRepository(ctx: OperationContext): LocalRepository {
  return new LocalRepository(ctx.config.backup.directory);
}

/** "latest" is the newest complete backup (with its .sha256 sidecar: its upload finished); a name must be complete too. */
export async function findCompleteBackup(ctx: OperationContext, repository: Repository, reference: string): Promise<BackupSummary> {
  const { backups } = await repository.catalog();
  if (reference === 'latest') {
    const newest = backups.find((b) => b.hasChecksum);
    if (newest === undefined) {
      throw new FerryError('ARCHIVE_NOT_FOUND', `no complete backup at ${repository.where}`, { hint: 'Run ferry push (or ferry backup with storage.remote) on the server first.' });
    }
    for (const skipped of backups.slice(0, backups.indexOf(newest))) ctx.log.warn(`${skipped.name} at ${repository.where} is incomplete (no .sha256 sidecar): skipped`);
    return newest;
  }
  const found = backups.find((b) => b.name === reference);
  if (found === undefined) throw new FerryError('ARCHIVE_NOT_FOUND', `${repository.pathOf(reference)} does not exist`, { hint: 'ferry list --remote shows the remote backups.' });
  if (!found.hasChecksum) {
    throw new FerryError('REMOTE_INCOMPLETE', `${found.path} has no .sha256 sidecar: its upload did not finish`, { hint: 'Run ferry push on the server, or pull another backup.' });
  }
  return found;
}
