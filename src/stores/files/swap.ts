import { chmod, mkdir, readdir, rename, rm, rmdir, stat, utimes } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { FerryError } from '../../errors/index.js';
import { OWN_ENTRY, parseWorkName, ownerAlive, workPath, type FolderLayout } from './layout.js';

/**
 * Makes `incoming` the target's content; what it replaces becomes the previous copy (replacing an
 * older one only once the swap has succeeded). A failure before the swap is complete puts
 * everything back. Returns whether there was something to keep.
 *
 * A plain folder is swapped with two renames: between them, for microseconds, the path does not
 * exist (Linux could swap atomically with renameat2(RENAME_EXCHANGE), which Node does not offer).
 * A mount point keeps existing, but its entries are moved out and in one by one, so for as long as
 * that takes a reader can see some of them missing.
 */
export async function swapIn(layout: FolderLayout, incoming: string): Promise<boolean> {
  return layout.mountPoint ? swapEntries(layout, incoming) : swapFolder(layout, incoming);
}

async function swapFolder(layout: FolderLayout, incoming: string): Promise<boolean> {
  if (!(await exists(layout.target))) {
    await rename(incoming, layout.target);
    return false;
  }
  const displaced = workPath(layout, 'swap');
  try {
    await rename(layout.target, displaced);
  } catch (cause) {
    throw swapFailed(layout, cause);
  }
  try {
    await rename(incoming, layout.target);
  } catch (cause) {
    await rename(displaced, layout.target);
    throw swapFailed(layout, cause);
  }
  await keepAs(displaced, layout.previous);
  return true;
}

/**
 * Moves the mount point's entries into a `swap` folder inside it (renamed `swapped` once all are
 * there), then the incoming entries into the mount point. The names tell a later run which half a
 * killed run reached (see recoverLeftovers).
 */
async function swapEntries(layout: FolderLayout, incoming: string): Promise<boolean> {
  const before = await stat(layout.target);
  const after = await stat(incoming);
  const displacing = workPath(layout, 'swap');
  await mkdir(displacing, { mode: 0o700 });
  const current = (await readdir(layout.target)).filter((name) => !OWN_ENTRY.test(name));
  try {
    await moveEntries(layout.target, displacing, current);
  } catch (cause) {
    await moveEntries(displacing, layout.target, await readdir(displacing));
    await rmdir(displacing);
    throw swapFailed(layout, cause);
  }
  const displaced = displacing.replace(/swap-([\d.]+-[0-9a-f]+)$/, 'swapped-$1');
  await rename(displacing, displaced);
  try {
    await moveEntries(incoming, layout.target, await readdir(incoming));
  } catch (cause) {
    const placed = (await readdir(layout.target)).filter((name) => !OWN_ENTRY.test(name));
    await moveEntries(layout.target, incoming, placed);
    await moveEntries(displaced, layout.target, await readdir(displaced));
    await rmdir(displaced);
    throw swapFailed(layout, cause);
  }
  await rmdir(incoming);
  await chmod(displaced, before.mode & 0o7777);
  await utimes(displaced, before.mtime, before.mtime);
  await keepAs(displaced, layout.previous);
  await chmod(layout.target, after.mode & 0o7777);
  await utimes(layout.target, after.mtime, after.mtime);
  return current.length > 0;
}

async function moveEntries(from: string, to: string, names: string[]): Promise<void> {
  for (const name of names) await rename(join(from, name), join(to, name));
}

async function keepAs(folder: string, kept: string): Promise<void> {
  await rm(kept, { recursive: true, force: true });
  await rename(folder, kept);
}

/**
 * Finishes or undoes what a killed run left, judged by the names of its folders (a run still
 * alive is left alone): a displaced folder whose swap did not happen goes back, one whose swap did
 * becomes the previous copy, and half-built folders are removed. Returns one line per action.
 */
export async function recoverLeftovers(layout: FolderLayout): Promise<string[]> {
  const names = await readdir(layout.workParent).catch(() => [] as string[]);
  const dead = names
    .map((name) => ({ name, path: join(layout.workParent, name), parsed: parseWorkName(layout, name) }))
    .filter((item): item is typeof item & { parsed: NonNullable<typeof item.parsed> } => item.parsed !== undefined && !ownerAlive(item.parsed));
  const notes: string[] = [];
  const ownerOf = (item: (typeof dead)[number]) => `${item.parsed.pid}.${item.parsed.started ?? ''}`;
  for (const owner of new Set(dead.map(ownerOf))) {
    const ofOwner = dead.filter((item) => ownerOf(item) === owner);
    const byPurpose = (purpose: string) => ofOwner.find((item) => item.parsed.purpose === purpose);
    const pid = ofOwner[0]?.parsed.pid;
    const swap = byPurpose('swap');
    const swapped = byPurpose('swapped');
    const undo = byPurpose('undo');
    const incoming = byPurpose('restore') ?? byPurpose('clone') ?? undo;
    if (swap !== undefined && !layout.mountPoint) {
      if (await exists(layout.target)) {
        await keepAs(swap.path, layout.previous);
        notes.push(`a killed run (pid ${pid}) had swapped ${layout.target} but not kept the previous copy: kept it at ${layout.previous}`);
      } else {
        await rename(swap.path, layout.target);
        notes.push(`a killed run (pid ${pid}) had moved ${layout.target} aside: put it back`);
      }
    } else if (swap !== undefined) {
      await moveEntries(swap.path, layout.target, await readdir(swap.path));
      await rmdir(swap.path);
      notes.push(`a killed run (pid ${pid}) had moved entries of ${layout.target} aside: put them back`);
    } else if (swapped !== undefined) {
      if (incoming !== undefined) {
        await moveEntries(incoming.path, layout.target, await readdir(incoming.path));
        await rmdir(incoming.path);
      }
      await keepAs(swapped.path, layout.previous);
      notes.push(`a killed run (pid ${pid}) was swapping the entries of ${layout.target}: finished it, previous copy at ${layout.previous}`);
    }
    if (undo !== undefined && (await exists(undo.path))) {
      if (!(await exists(layout.previous))) await rename(undo.path, layout.previous);
      else await rm(undo.path, { recursive: true, force: true });
    }
    for (const item of ofOwner.filter((d) => d.parsed.purpose !== 'undo')) {
      if (!(await exists(item.path))) continue;
      await rm(item.path, { recursive: true, force: true });
      notes.push(`removed ${basename(item.path)}, left by a killed run (pid ${pid})`);
    }
  }
  return notes;
}

function swapFailed(layout: FolderLayout, cause: unknown): FerryError {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  return new FerryError('UPLOADS_SWAP_FAILED', `cannot move the restored uploads into ${layout.target}${code === undefined ? '' : `: ${code}`}`, {
    hint: layout.mountPoint ? 'The previous uploads were put back unchanged; check that ferry may write inside the mounted uploads folder.'
      : code === 'EBUSY' ? 'The uploads folder is in use as a mount point that Ferry did not recognise (not in /proc/self/mountinfo); it was left unchanged. Restore into a folder inside the mount instead.'
      : 'The previous uploads folder was put back unchanged; check permissions on its parent folder.',
    cause,
  });
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}
