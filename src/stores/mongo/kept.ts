import type { Db, Document } from 'mongodb';
import { insertRaw } from './raw-insert.js';
import { createOptions } from './restore.js';

/**
 * Collections a restore keeps beside the target, found by their names alone:
 * `<coll>__ferry_new` while a restore loads, `<coll>__ferry_prev` what the last restore replaced
 * (for undo), `<coll>__ferry_pristine` what it restored (for reset), `<coll>__ferry_swap` for an
 * instant during undo.
 */
export const KEPT_ROLES = ['new', 'prev', 'pristine', 'swap'] as const;
export type KeptRole = (typeof KEPT_ROLES)[number];

const KEPT_NAME = /^(.+)__ferry_(new|prev|pristine|swap)$/;

/**
 * The journal of a swap in progress: MongoDB cannot rename several collections at once, so the
 * list of renames is written first and removed last. A restore killed in between leaves it, and
 * the next restore, undo or reset finishes the swap before anything else.
 */
export const SWAP_JOURNAL = 'ferry__ferry_journal';

export function keptName(collection: string, role: KeptRole): string {
  return `${collection}__ferry_${role}`;
}

/** True for a collection Ferry keeps beside a target: never backed up, counted or checked. */
export function isKeptName(name: string): boolean {
  return KEPT_NAME.test(name) || name === SWAP_JOURNAL;
}

/** The collections of a database with the given role, keyed by the collection they belong to. */
export async function keptCollections(db: Db, role: KeptRole): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const name of await collectionNames(db)) {
    const match = KEPT_NAME.exec(name);
    if (match !== null && match[2] === role) out.set(match[1] as string, name);
  }
  return out;
}

export async function collectionNames(db: Db): Promise<Set<string>> {
  return new Set((await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name));
}

/** One collection to bring into place: `loaded` holds the new data under its temporary name. */
export interface SwapItem {
  collection: string;
  loaded: string;
}

/**
 * Renames each loaded collection into place, the current one becoming `<coll>__ferry_prev` (an
 * empty one when there was none, so that undo has something to swap back). Older previous copies
 * are dropped first: one level of undo. A rename that fails part-way renames back what was
 * already swapped and drops what was loaded, so the targets are as they were. Returns a line per
 * collection.
 */
export async function swapIntoPlace(db: Db, items: SwapItem[], options: { keepPrevious?: boolean } = {}): Promise<string[]> {
  const existing = await collectionNames(db);
  // After finishing an interrupted swap, the previous copies hold what that restore replaced: the
  // state to undo to. They stay, and the collections the interrupted restore put in are replaced.
  const kept = options.keepPrevious === true ? new Set((await keptCollections(db, 'prev')).keys()) : new Set<string>();
  for (const [collection, prev] of await keptCollections(db, 'prev')) if (!kept.has(collection)) await db.collection(prev).drop();
  const planned: JournalItem[] = items.map((item) => ({ ...item, hadTarget: existing.has(item.collection) }));
  await db.collection(SWAP_JOURNAL).insertOne({ items: planned });
  const done: JournalItem[] = [];
  const notes: string[] = [];
  try {
    for (const item of planned) {
      const prev = keptName(item.collection, 'prev');
      if (kept.has(item.collection)) {
        await db.renameCollection(item.loaded, item.collection, { dropTarget: true });
        notes.push(`${item.collection}: swapped in; ${prev} still holds what the interrupted restore replaced`);
        continue;
      }
      if (item.hadTarget) await db.renameCollection(item.collection, prev);
      done.push(item);
      await db.renameCollection(item.loaded, item.collection);
      if (!item.hadTarget) await db.createCollection(prev);
      notes.push(item.hadTarget
        ? `${item.collection}: swapped in; the replaced collection is kept as ${prev}`
        : `${item.collection}: created (it did not exist; undo leaves it empty)`);
    }
  } catch (error) {
    await swapBack(db, done);
    for (const item of items) await db.collection(item.loaded).drop().catch(() => undefined);
    await db.collection(SWAP_JOURNAL).drop().catch(() => undefined);
    throw error;
  }
  await db.collection(SWAP_JOURNAL).drop();
  return notes;
}

interface JournalItem extends SwapItem {
  hadTarget: boolean;
}

/**
 * Finishes the swap a killed restore (or reset) left half-done, as its journal lists it: every
 * collection was loaded and counted before the journal was written, so the swap goes forward and
 * the replaced collections stay kept for undo. Returns a note, or undefined when there was none.
 */
export async function finishInterruptedSwap(db: Db): Promise<string | undefined> {
  const names = await collectionNames(db);
  if (!names.has(SWAP_JOURNAL)) return undefined;
  const [journal] = await db.collection(SWAP_JOURNAL).find({}).toArray();
  const items = (journal?.items ?? []) as JournalItem[];
  const finished: string[] = [];
  for (const item of items) {
    const prev = keptName(item.collection, 'prev');
    if (names.has(item.loaded)) {
      if (item.hadTarget && names.has(item.collection) && !names.has(prev)) await db.renameCollection(item.collection, prev);
      await db.renameCollection(item.loaded, item.collection, { dropTarget: true });
      finished.push(item.collection);
    }
    if (!item.hadTarget && !(await collectionNames(db)).has(prev)) await db.createCollection(prev);
  }
  await db.collection(SWAP_JOURNAL).drop();
  return `finished the swap an interrupted restore left half-done (${finished.length === 0 ? 'nothing was left to rename' : finished.join(', ')}); the replaced collections are kept as <coll>__ferry_prev`;
}

async function swapBack(db: Db, done: JournalItem[]): Promise<void> {
  const names = await collectionNames(db).catch(() => new Set<string>());
  for (const item of [...done].reverse()) {
    const prev = keptName(item.collection, 'prev');
    if (names.has(item.collection) && (item.hadTarget ? names.has(prev) : true)) {
      await db.renameCollection(item.collection, item.loaded).catch(() => undefined);
    }
    if (item.hadTarget) await db.renameCollection(prev, item.collection).catch(() => undefined);
    else await db.collection(prev).drop().catch(() => undefined);
  }
}

/**
 * Swaps every `<coll>__ferry_prev` with its collection, so that calling it again swaps back.
 * Returns the collections swapped.
 */
export async function swapPrevious(db: Db): Promise<string[]> {
  const prevs = await keptCollections(db, 'prev');
  const existing = await collectionNames(db);
  const swapped: string[] = [];
  for (const [collection, prev] of prevs) {
    if (existing.has(collection)) {
      const swap = keptName(collection, 'swap');
      await db.renameCollection(collection, swap);
      await db.renameCollection(prev, collection);
      await db.renameCollection(swap, prev);
    } else {
      await db.renameCollection(prev, collection);
    }
    swapped.push(collection);
  }
  return swapped;
}

/** Copies a collection (options, documents as their exact bytes, indexes) under a new name, through the client. */
export async function copyCollection(db: Db, from: string, to: string, batchSize: number, bypassValidation: boolean): Promise<void> {
  const info = (await db.listCollections({ name: from }).toArray())[0] as Document | undefined;
  await db.createCollection(to, createOptions(info?.options as Document | undefined));
  let batch: Buffer[] = [];
  let bytes = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    const result = await insertRaw(db, to, batch, bypassValidation);
    if (result.writeErrors[0] !== undefined) throw new Error(`copying ${from} to ${to}: ${result.writeErrors[0].errmsg}`);
    batch = [];
    bytes = 0;
  };
  const cursor = db.collection(from).find({}, { raw: true, batchSize: 1000 });
  try {
    for await (const raw of cursor as AsyncIterable<Buffer>) {
      batch.push(Buffer.from(raw));
      bytes += raw.length;
      if (batch.length >= batchSize || bytes >= 8 * 1024 * 1024) await flush();
    }
  } finally {
    await cursor.close();
  }
  await flush();
  const indexes = (await db.collection(from).listIndexes().toArray())
    .filter((index) => index.name !== '_id_' && index.clustered !== true)
    .map(({ ns: _ns, v: _v, ...spec }) => spec);
  if (indexes.length > 0) await db.command({ createIndexes: to, indexes });
}
