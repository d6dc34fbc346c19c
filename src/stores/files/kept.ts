import { rename, rm } from 'node:fs/promises';
import { FerryError } from '../../errors/index.js';
import type { KeptCopy } from '../store.js';
import { layoutOf, workPath, type FolderLayout } from './layout.js';
import { exists } from './restore.js';
import { recoverLeftovers, swapIn } from './swap.js';
import { targetError } from './target-error.js';
import { linkTree } from './tree.js';
import { countTree } from './walk.js';

/** The previous and pristine copies kept beside the folder (inside it, for a mount point). */
export async function keptFolderCopies(target: string): Promise<KeptCopy[]> {
  const layout = await layoutOf(target);
  const copies: KeptCopy[] = [];
  for (const [role, path] of roles(layout)) {
    if (await exists(path)) copies.push({ role, describe: path, bytes: (await countTree(path)).bytes });
  }
  return copies;
}

/** Swaps the previous copy back in; what it replaces becomes the previous copy, so undo again redoes. */
export async function undoFolder(target: string): Promise<string> {
  const layout = await layoutOf(target);
  return withTargetErrors(layout, async () => {
    await recoverLeftovers(layout);
    if (!(await exists(layout.previous))) {
      throw new FerryError('NOTHING_TO_UNDO', `no previous copy of ${target} to swap back: ${layout.previous} does not exist`, {
        hint: 'Only a restore keeps a previous copy, and ferry restore --drop-previous removes it; restore from an archive instead (ferry list).',
      });
    }
    // A mount point's previous copy lives inside it: it is renamed to a work name first, so that
    // swapping the entries does not move it, and a killed undo can tell where to put it back.
    const incoming = layout.mountPoint ? workPath(layout, 'undo') : layout.previous;
    if (incoming !== layout.previous) await rename(layout.previous, incoming);
    await swapIn(layout, incoming);
    return `uploads ${target}: the previous copy is back; what it replaced is now the previous copy (undo again to redo)`;
  });
}

/** Brings back a hard-linked copy of the pristine folder; the pristine copy stays for the next reset. */
export async function resetFolder(target: string): Promise<string> {
  const layout = await layoutOf(target);
  return withTargetErrors(layout, async () => {
    await recoverLeftovers(layout);
    if (!(await exists(layout.pristine))) {
      throw new FerryError('NOTHING_TO_RESET', `no pristine copy of ${target}: ${layout.pristine} does not exist`, {
        hint: 'Set restore.keep_pristine: true and restore once; that restore keeps the copy ferry reset brings back.',
      });
    }
    const clone = workPath(layout, 'clone');
    try {
      await linkTree(layout.pristine, clone);
      await swapIn(layout, clone);
    } catch (error) {
      await rm(clone, { recursive: true, force: true });
      throw error;
    }
    return `uploads ${target}: back to the pristine copy of the last restore; what it replaced is now the previous copy`;
  });
}

export async function dropFolderCopies(target: string, which: Array<KeptCopy['role']>): Promise<string[]> {
  const layout = await layoutOf(target);
  const dropped: string[] = [];
  for (const [role, path] of roles(layout)) {
    if (!which.includes(role) || !(await exists(path))) continue;
    await rm(path, { recursive: true, force: true });
    dropped.push(path);
  }
  return dropped;
}

function roles(layout: FolderLayout): Array<[KeptCopy['role'], string]> {
  return [['previous', layout.previous], ['pristine', layout.pristine]];
}

async function withTargetErrors<T>(layout: FolderLayout, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (cause) {
    throw targetError(cause, layout);
  }
}
