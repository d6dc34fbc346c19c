import { randomBytes } from 'node:crypto';
import { readFile, realpath, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ownerTag, type RunOwner } from '../../process/owner.js';

export { ownerAlive } from '../../process/owner.js';

/**
 * Where a restore of one uploads folder puts its work and its kept copies. A folder that can be
 * renamed is swapped whole, with everything Ferry keeps beside it; a mount point (a Docker volume,
 * say) cannot be renamed, so everything lives inside it and its entries are swapped instead —
 * inside, because renaming across filesystems is impossible and hard links need the same one.
 */
export interface FolderLayout {
  target: string;
  mountPoint: boolean;
  /** What the last restore replaced, for undo. */
  previous: string;
  /** What the last restore with keep_pristine restored, for reset. */
  pristine: string;
  /** The folder that holds Ferry's temporary folders. */
  workParent: string;
  /** Name prefix of Ferry's temporary folders there, before `<purpose>-<pid>-<random>`. */
  workPrefix: string;
}

/**
 * restore: a folder being built from the archive; clone: a copy of the pristine folder for reset;
 * pristine: the next pristine copy; swap: the displaced folder, or (mount point) the entries being
 * moved out of it; swapped: those entries once all are out; undo: the previous copy being put back
 * (mount point).
 */
export type WorkPurpose = 'restore' | 'clone' | 'pristine' | 'swap' | 'swapped' | 'undo';
const PURPOSES = 'restore|clone|pristine|swap|swapped|undo';

/** Names Ferry keeps at the top of a mounted uploads folder: never archived, counted or swapped. */
export const OWN_ENTRY = new RegExp(`^\\.ferry-(prev|pristine|(${PURPOSES})-\\d+(\\.\\d+)?-[0-9a-f]+)$`);

export async function layoutOf(target: string): Promise<FolderLayout> {
  const mountPoint = await isMountPoint(target);
  if (mountPoint) {
    return { target, mountPoint, previous: join(target, '.ferry-prev'), pristine: join(target, '.ferry-pristine'), workParent: target, workPrefix: '.ferry-' };
  }
  const parent = dirname(target);
  const name = basename(target);
  return { target, mountPoint, previous: join(parent, `${name}.ferry-prev`), pristine: join(parent, `${name}.ferry-pristine`), workParent: parent, workPrefix: `.${name}.ferry-` };
}

/**
 * A fresh temporary folder name. Its owner (pid and the process's start time) tells a later run
 * whether the run that made it is still alive — the start time because a container's restore is
 * often pid 1 every time.
 */
export function workPath(layout: FolderLayout, purpose: WorkPurpose): string {
  return join(layout.workParent, `${layout.workPrefix}${purpose}-${ownerTag()}-${randomBytes(4).toString('hex')}`);
}

export interface WorkName extends RunOwner {
  purpose: WorkPurpose;
}

/** Parses a temporary folder name of this layout: its purpose and the run that made it. */
export function parseWorkName(layout: FolderLayout, name: string): WorkName | undefined {
  if (!name.startsWith(layout.workPrefix)) return undefined;
  const match = new RegExp(`^(${PURPOSES})-(\\d+)(?:\\.(\\d+))?-[0-9a-f]+$`).exec(name.slice(layout.workPrefix.length));
  if (match === null) return undefined;
  return { purpose: match[1] as WorkPurpose, pid: Number(match[2]), started: match[3] };
}

/** A folder that cannot be renamed: another filesystem than its parent's, or listed in mountinfo (bind mounts). */
export async function isMountPoint(path: string): Promise<boolean> {
  const own = await stat(path).catch(() => undefined);
  if (own === undefined || !own.isDirectory()) return false;
  const parent = await stat(dirname(path));
  if (own.dev !== parent.dev || own.ino === parent.ino) return true;
  const real = await realpath(path);
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  return mountinfo.split('\n').some((line) => unescapeMount(line.split(' ')[4] ?? '') === real);
}

/** mountinfo writes space, tab, newline and backslash as octal escapes. */
function unescapeMount(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}
