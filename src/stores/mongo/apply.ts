import type { Db } from 'mongodb';
import { FerryError, throwIfAborted } from '../../errors/index.js';
import type { ObjectCount } from '../store.js';
import type { DocumentMasker } from './document-masker.js';
import { collectionNames, finishInterruptedSwap, keptCollections, keptName, swapIntoPlace, type SwapItem } from './kept.js';
import { createOptions, isTimeseries, loadCollection, type CheckedCollection, type LoadSettings } from './restore.js';
import { plural } from '../../util/format.js';

export interface ApplySettings extends LoadSettings {
  /** What each collection must hold once loaded (the manifest's count, or the dump's). */
  expected: (collection: CheckedCollection) => number;
  maskerFor: (collection: CheckedCollection) => DocumentMasker | undefined;
  keepPristine: boolean;
  /** How collections are loaded beside their targets: the driver's inserts unless given (mongorestore in the container). */
  loader?: Loader;
}

/** One collection to load under the name `into`. */
export interface Load {
  collection: CheckedCollection;
  into: string;
  masker: DocumentMasker | undefined;
}

/** Loads each collection into its new name, created with its dumped options, filled, and indexed. */
export type Loader = (db: Db, loads: Load[], settings: LoadSettings) => Promise<void>;

export const driverLoader: Loader = async (db, loads, settings) => {
  for (const load of loads) {
    throwIfAborted(settings.ctx.signal);
    await loadCollection(db, load.collection, load.into, settings, load.masker);
  }
};

export interface ApplyOutcome {
  counts: ObjectCount[];
  notes: string[];
}

/**
 * All or nothing across collections: every collection is loaded beside its target
 * (`<coll>__ferry_new`) and counted there; only when all are loaded are they renamed into place,
 * each target becoming `<coll>__ferry_prev`. A failure before that drops what was loaded and
 * leaves every target as it was. Time-series collections (which MongoDB cannot rename) and views
 * are replaced in place afterwards.
 */
export async function applyCollections(db: Db, selected: CheckedCollection[], settings: ApplySettings): Promise<ApplyOutcome> {
  const notes: string[] = [];
  const finished = await finishInterruptedSwap(db);
  if (finished !== undefined) notes.push(finished);
  for (const leftover of (await keptCollections(db, 'new')).values()) {
    await db.collection(leftover).drop();
    notes.push(`removed ${leftover}, left by an interrupted restore`);
  }
  const swappable = selected.filter((c) => c.metadata.type !== 'view' && !isTimeseries(c.metadata));
  const inPlace = selected.filter((c) => isTimeseries(c.metadata));
  const views = selected.filter((c) => c.metadata.type === 'view');

  // Time-series collections are loaded beside too, as a trial: it proves the server accepts their
  // options and documents before anything is replaced, though they are then loaded again in place.
  const loaded: SwapItem[] = [];
  const trials: SwapItem[] = [];
  const load = settings.loader ?? driverLoader;
  try {
    const loads = [...swappable, ...inPlace].map((collection) => {
      const into = keptName(collection.name, 'new');
      const trial = isTimeseries(collection.metadata);
      (trial ? trials : loaded).push({ collection: collection.name, loaded: into });
      const masker = settings.maskerFor(collection);
      return { collection, into, masker: trial ? masker?.copy() : masker };
    });
    await load(db, loads, settings);
    for (const { collection, into } of loads) {
      const actual = await countOf(db, into);
      if (actual !== settings.expected(collection)) {
        throw new FerryError('COUNT_MISMATCH', `${collection.label}: ${actual} documents loaded, ${settings.expected(collection)} expected`, {
          hint: 'Nothing was replaced: every target collection is as it was. Check the server log, then restore again.',
        });
      }
    }
    for (const trial of trials) await db.collection(trial.loaded).drop();
    throwIfAborted(settings.ctx.signal);
  } catch (error) {
    for (const item of [...loaded, ...trials]) await db.collection(item.loaded).drop().catch(() => undefined);
    throw error;
  }
  notes.push(...await swapIntoPlace(db, loaded, { keepPrevious: finished !== undefined }));

  const existing = await collectionNames(db);
  for (const collection of inPlace) {
    if (existing.has(collection.name)) await db.collection(collection.name).drop();
    await loadCollection(db, collection, collection.name, settings, settings.maskerFor(collection));
    notes.push(`${collection.name}: time-series, replaced in place (no undo)`);
  }
  for (const view of views) {
    if (existing.has(view.name)) await db.collection(view.name).drop();
    await db.createCollection(view.name, createOptions(view.metadata.options));
    notes.push(`${view.name}: view re-created`);
  }

  for (const pristine of (await keptCollections(db, 'pristine')).values()) await db.collection(pristine).drop();
  if (settings.keepPristine) {
    // The restore has succeeded by now: a pristine copy that cannot be made is reported, not fatal.
    try {
      await load(db, swappable.map((collection) => ({ collection, into: keptName(collection.name, 'pristine'), masker: settings.maskerFor(collection)?.copy() })), settings);
      notes.push(`pristine copies kept for ferry reset (${plural(swappable.length, 'collection')}, <coll>__ferry_pristine)`);
    } catch (error) {
      for (const pristine of (await keptCollections(db, 'pristine')).values()) await db.collection(pristine).drop().catch(() => undefined);
      notes.push(`no pristine copy kept, ferry reset will not work: ${(error as Error).message}`);
    }
  }

  const counts: ObjectCount[] = [];
  for (const collection of selected.filter((c) => c.metadata.type !== 'view')) {
    counts.push({ object: collection.name, expected: settings.expected(collection), actual: await countOf(db, collection.name) });
  }
  return { counts, notes };
}

export async function countOf(db: Db, name: string): Promise<number> {
  const result = await db.command({ count: name });
  return Number(result.n ?? 0);
}
