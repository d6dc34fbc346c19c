import { detailedCatalog, type BackupDetails } from './catalog.js';
import type { OperationContext } from './context.js';
import { withRepository } from './remote.js';

export interface ListResult {
  /** The backup directory, or the remote's s3:// URL. */
  directory: string;
  backups: BackupDetails[];
  foreign: string[];
}

/** The backups in the backup directory (or at storage.remote), newest first; reads sidecars, never whole archives. */
export async function list(ctx: OperationContext, options: { remote?: boolean } = {}): Promise<ListResult> {
  return withRepository(ctx, options, async (repository) => ({ directory: repository.where, ...(await detailedCatalog(repository)) }));
}
