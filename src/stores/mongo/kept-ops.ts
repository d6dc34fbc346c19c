import type { Db } from 'mongodb';
import { FerryError } from '../../errors/index.js';
import type { KeptCopy } from '../store.js';
import { copyCollection, finishInterruptedSwap, keptCollections, keptName, swapIntoPlace, swapPrevious, type SwapItem } from './kept.js';
import { plural } from '../../util/format.js';

/** The previous and pristine copies in a database, with their size when the server tells it. */
export async function listKeptCopies(db: Db, where: string): Promise<KeptCopy[]> {
  const copies: KeptCopy[] = [];
  for (const [role, kind] of [['previous', 'prev'], ['pristine', 'pristine']] as const) {
    const names = [...(await keptCollections(db, kind)).values()].sort();
    if (names.length === 0) continue;
    let bytes: number | undefined = 0;
    for (const name of names) {
      const size = await db.command({ collStats: name }).then((stats) => Number(stats.size ?? 0), () => undefined);
      bytes = size === undefined || bytes === undefined ? undefined : bytes + size;
    }
    copies.push({ role, describe: `${plural(names.length, 'collection')} in ${where} (${names.join(', ')})`, ...(bytes === undefined ? {} : { bytes }) });
  }
  return copies;
}

/** `ferry restore --undo`: every collection swapped with its previous copy. */
export async function undoPrevious(db: Db, where: string): Promise<string> {
  const finished = await finishInterruptedSwap(db);
  const swapped = await swapPrevious(db);
  if (swapped.length === 0) {
    throw new FerryError('NOTHING_TO_UNDO', `no previous copy in ${where}: no <coll>__ferry_prev collection`, {
      hint: 'Undo brings back what the last restore (or reset) replaced; that copy was dropped or no restore kept one.',
    });
  }
  return `${finished === undefined ? '' : `${finished}; then `}swapped ${plural(swapped.length, 'collection')} with their previous copies (${swapped.sort().join(', ')})`;
}

/**
 * `ferry reset`: each pristine copy is copied beside its collection and swapped in like a restore,
 * all or nothing; the pristine copies stay for the next reset.
 */
export async function resetToPristine(db: Db, where: string, settings: { batchSize: number; bypassValidation: boolean }): Promise<string> {
  await finishInterruptedSwap(db);
  const pristines = await keptCollections(db, 'pristine');
  if (pristines.size === 0) {
    throw new FerryError('NOTHING_TO_RESET', `no pristine copy in ${where}: no <coll>__ferry_pristine collection`, {
      hint: 'Restore with restore.keep_pristine: true (FERRY_RESTORE_KEEP_PRISTINE=true) to keep one.',
    });
  }
  for (const leftover of (await keptCollections(db, 'new')).values()) await db.collection(leftover).drop();
  const items: SwapItem[] = [];
  try {
    for (const [collection, pristine] of pristines) {
      const loaded = keptName(collection, 'new');
      items.push({ collection, loaded });
      await copyCollection(db, pristine, loaded, settings.batchSize, settings.bypassValidation);
    }
  } catch (error) {
    for (const item of items) await db.collection(item.loaded).drop().catch(() => undefined);
    throw error;
  }
  await swapIntoPlace(db, items);
  return `reset ${plural(items.length, 'collection')} to their pristine copies (${[...pristines.keys()].sort().join(', ')}); the replaced ones are kept as <coll>__ferry_prev`;
}

/** Drops the kept copies of these roles; returns `<db>.<collection>` for each. */
export async function dropKeptCopies(db: Db, roles: Array<KeptCopy['role']>): Promise<string[]> {
  const dropped: string[] = [];
  for (const role of roles) {
    for (const name of (await keptCollections(db, role === 'previous' ? 'prev' : 'pristine')).values()) {
      await db.collection(name).drop();
      dropped.push(`${db.databaseName}.${name}`);
    }
  }
  return dropped.sort();
}
