import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ownerAlive, ownerTag } from '../process/owner.js';
import { formatBytes } from '../util/format.js';
import { sizeOf } from './leftovers.js';
import type { Logger } from '../stores/index.js';

/** What a run stages in the temp directory: a restore's dump, say, which is production data. */
export type RunFolderPurpose = 'restore' | 'verify' | 'mask' | 'plan';

const RUN_FOLDER = /^ferry-(restore|verify|mask|plan)-(\d+)(?:\.(\d+))?-[A-Za-z0-9]{6}$/;

/** This run's own folder under `root`, named with its owner so that a later run can tell it was killed. */
export function runFolder(root: string, purpose: RunFolderPurpose): Promise<string> {
  return mkdtemp(join(root, `ferry-${purpose}-${ownerTag()}-`));
}

/**
 * Removes the folders that killed runs (SIGKILL, OOM, power loss) left under `root` and says so:
 * they hold what a restore or verify staged, a copy of the production dump among it. A folder of
 * a run still alive, or one this user may not remove, is left alone.
 */
export async function removeDeadRunFolders(root: string, log: Logger): Promise<void> {
  const names = await readdir(root).catch(() => [] as string[]);
  const removed: string[] = [];
  for (const name of names) {
    const match = RUN_FOLDER.exec(name);
    if (match === null || ownerAlive({ pid: Number(match[2]), started: match[3] })) continue;
    const path = join(root, name);
    const bytes = await sizeOf(path);
    if (await rm(path, { recursive: true, force: true }).then(() => true, () => false)) removed.push(`${path} (${formatBytes(bytes)})`);
  }
  if (removed.length > 0) log.warn(`removed what a killed run left: ${removed.join(', ')}`);
}
