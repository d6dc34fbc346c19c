import { lstat, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { lockState } from './lock.js';

/** What a run killed outright (SIGKILL, OOM, power loss) leaves in the backup and temp directories. */
export interface Leftover {
  path: string;
  kind: 'temp folder' | 'partial archive' | 'temp file' | 'sidecar without archive';
  /** Bytes of the file, or of everything under the folder. */
  bytes: number;
}

export const TEMP_FOLDER_PREFIX = '.ferry-tmp-';

/** The name of a backup's temp folder prefix: it carries the pid, so a shared temp_directory stays safe. */
export function tempFolderPrefix(): string {
  return `${TEMP_FOLDER_PREFIX}${process.pid}-`;
}

export interface LeftoverOptions {
  /** backup.temp_directory, when it is not the backup directory. */
  tempDirectory?: string | undefined;
  /** The caller holds the backup directory's lock, so nothing there belongs to a live run. */
  lockHeld?: boolean;
}

/**
 * The leftovers of dead runs with their sizes. While a live process holds the lock, its own
 * `.partial` and temp files are work in progress, not leftovers, and none are listed.
 */
export async function findLeftovers(directory: string, options: LeftoverOptions = {}): Promise<Leftover[]> {
  if (options.lockHeld !== true && (await lockState(directory)).state === 'held') return [];
  const found: Leftover[] = [];
  const roots = [directory, ...(options.tempDirectory === undefined || options.tempDirectory === directory ? [] : [options.tempDirectory])];
  for (const [index, root] of roots.entries()) {
    const names = await namesIn(root);
    const present = new Set(names);
    for (const name of names) {
      const kind = kindOf(name, index === 0, present);
      if (kind === undefined) continue;
      if (kind === 'temp folder' && ownerAlive(name)) continue;
      const path = join(root, name);
      found.push({ path, kind, bytes: await sizeOf(path) });
    }
  }
  return found;
}

export async function removeLeftovers(leftovers: readonly Leftover[]): Promise<void> {
  for (const leftover of leftovers) await rm(leftover.path, { recursive: true, force: true });
}

function kindOf(name: string, inBackupDirectory: boolean, present: ReadonlySet<string>): Leftover['kind'] | undefined {
  if (name.startsWith(TEMP_FOLDER_PREFIX)) return 'temp folder';
  if (!inBackupDirectory) return undefined;
  // A backup writes its sidecars, then renames the archive into place: killed in between, the
  // sidecars describe an archive that never got its name.
  const sidecarOf = /^(backup_\d{8}_\d{6}\.tar\.(?:gz|zst)(?:\.age)?)\.(?:sha256|manifest\.json|verify\.json)$/.exec(name)?.[1];
  if (sidecarOf !== undefined) return present.has(sidecarOf) ? undefined : 'sidecar without archive';
  if (/^backup_\d{8}_\d{6}\.tar\.(?:gz|zst)(?:\.age)?\.partial$/.test(name)) return 'partial archive';
  // Sidecars written through a temp file, and the lock's own temp file. Not .verify.json's: `ferry
  // verify` writes it without the lock, so one may be in flight.
  if (/^\.backup_\d{8}_\d{6}\.tar\.(?:gz|zst)(?:\.age)?\.(?:sha256|manifest\.json)\.[0-9a-f]+\.tmp$/.test(name) || /^\.ferry\.lock\.\d+\.[0-9a-f]+\.tmp$/.test(name)) return 'temp file';
  return undefined;
}

/** A temp folder named with a pid that still runs belongs to a live backup of another directory. */
function ownerAlive(name: string): boolean {
  const pid = /^\.ferry-tmp-(\d+)-/.exec(name)?.[1];
  if (pid === undefined || Number(pid) === process.pid) return false;
  try {
    process.kill(Number(pid), 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function namesIn(directory: string): Promise<string[]> {
  try {
    return await readdir(directory);
  } catch {
    return [];
  }
}

export async function sizeOf(path: string): Promise<number> {
  try {
    const stats = await lstat(path);
    if (!stats.isDirectory()) return stats.size;
    let total = 0;
    for (const name of await namesIn(path)) total += await sizeOf(join(path, name));
    return total;
  } catch {
    return 0;
  }
}
