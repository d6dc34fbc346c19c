import { detailedCatalog, type BackupDetails } from './catalog.js';
import type { OperationContext } from './context.js';

export interface ListResult {
  directory: string;
  backups: BackupDetails[];
  foreign: string[];
}

/** The backups in the backup directory, newest first; reads sidecars, never whole archives. */
export async function list(ctx: OperationContext): Promise<ListResult> {
  const directory = ctx.config.backup.directory;
  const { backups, foreign } = await detailedCatalog(directory);
  return { directory, backups, foreign };
}
