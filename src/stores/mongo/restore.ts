import { readFile } from 'node:fs/promises';
import type { Db } from 'mongodb';
import { BSON, type Document } from 'bson';
import { FerryError, throwIfAborted } from '../../errors/index.js';
import type { StoreContext } from '../store.js';
import { parseDocument, readBsonFile } from './bson-file.js';
import { insertRaw, type RawInsertResult } from './raw-insert.js';
import { parseMetadata, type CollectionMetadata } from './metadata.js';
import type { DocumentMasker } from './document-masker.js';

export interface StagedCollection {
  name: string;
  bsonPath: string | undefined;
  metadataPath: string | undefined;
  /** Label for messages: the entry's path in the archive. */
  label: string;
}

export interface CheckedCollection extends StagedCollection {
  metadata: CollectionMetadata;
  documents: number;
}

/** Reads every staged file fully before the database is touched: each document must parse. */
export async function checkStaged(staged: StagedCollection[], ctx: StoreContext): Promise<CheckedCollection[]> {
  const checked: CheckedCollection[] = [];
  for (const collection of staged) {
    const metadata = collection.metadataPath === undefined
      ? { indexes: [], collectionName: collection.name }
      : parseMetadata(await readFile(collection.metadataPath, 'utf8'), collection.label.replace(/\.bson$/, '.metadata.json'), collection.name);
    let documents = 0;
    if (collection.bsonPath !== undefined) {
      for await (const doc of readBsonFile(collection.bsonPath, collection.label)) {
        throwIfAborted(ctx.signal);
        parseDocument(doc, collection.label);
        documents++;
      }
    }
    checked.push({ ...collection, metadata, documents });
  }
  return checked;
}

/** Options `create` accepts again; the rest (like uuid) belong to the old collection. */
export function createOptions(options: Document | undefined): Document {
  const out: Document = {};
  for (const [key, value] of Object.entries(options ?? {})) if (key !== 'uuid') out[key] = value;
  return out;
}

/** Time-series collections cannot be renamed (MongoDB refuses): they are replaced in place. */
export function isTimeseries(metadata: CollectionMetadata): boolean {
  return metadata.type === 'timeseries' || metadata.options?.timeseries !== undefined;
}

export interface LoadSettings {
  batchSize: number;
  /** For messages about what this server refuses. */
  serverVersion: string;
  /** mongodb.bypass_document_validation: skip the target's validators (needs the bypassDocumentValidation action). */
  bypassValidation: boolean;
  ctx: StoreContext;
}

/**
 * Creates `into` with the dumped options, fills it with the staged documents in bounded batches
 * (masked on the way when asked) and builds the dumped indexes on it.
 */
export async function loadCollection(db: Db, collection: CheckedCollection, into: string, settings: LoadSettings, masking?: DocumentMasker): Promise<void> {
  const { metadata, name } = collection;
  try {
    await db.createCollection(into, createOptions(metadata.options));
  } catch (cause) {
    throw new FerryError('MONGO_FAILED', `MongoDB ${settings.serverVersion} refuses to create ${name} with the dumped options ${BSON.EJSON.stringify(createOptions(metadata.options), { relaxed: true })}: ${(cause as Error).message}`, {
      hint: 'Nothing was replaced: every target collection is as it was. Restore into a server version that accepts these options, or leave this collection out (--collections).',
      cause,
    });
  }
  if (collection.bsonPath !== undefined) await insertAll(db, into, name, collection.bsonPath, collection.label, settings, masking);
  const indexes = metadata.indexes
    // The _id index comes with the collection; so does a clustered collection's index (createIndexes refuses `clustered`).
    .filter((index) => index.name !== '_id_' && index.clustered !== true)
    .map((index) => {
      const spec: Document = {};
      for (const [key, value] of Object.entries(index)) if (key !== 'ns') spec[key] = value;
      return spec;
    });
  if (indexes.length === 0) return;
  try {
    await db.command({ createIndexes: into, indexes });
  } catch (cause) {
    throw new FerryError('MONGO_FAILED', `MongoDB ${settings.serverVersion} refuses the dumped indexes of ${name}: ${(cause as Error).message}`, {
      hint: 'Nothing was replaced: every target collection is as it was. Restore into a server version that accepts these indexes, or leave this collection out (--collections).',
      cause,
    });
  }
}

async function insertAll(db: Db, into: string, name: string, path: string, label: string, settings: LoadSettings, masking: DocumentMasker | undefined): Promise<void> {
  let batch: Buffer[] = [];
  let batchBytes = 0;
  let batchStart = 0;
  let documentsBefore = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    const result = await insertRaw(db, into, batch, settings.bypassValidation);
    const first = result.writeErrors[0];
    if (first !== undefined) throw insertFailure(first, batch[first.index], name, label, batchStart, documentsBefore + first.index + 1);
    documentsBefore += batch.length;
    batch = [];
    batchBytes = 0;
  };
  for await (const doc of readBsonFile(path, label)) {
    throwIfAborted(settings.ctx.signal);
    if (batch.length === 0) batchStart = doc.offset;
    // Documents are sent exactly as dumped (or as masked); the batch copies them out of the read buffer.
    const bytes = masking === undefined ? Buffer.from(doc.bytes) : masking.apply(Buffer.from(doc.bytes));
    batch.push(bytes);
    batchBytes += bytes.length;
    if (batch.length >= settings.batchSize || batchBytes >= 8 * 1024 * 1024) await flush();
  }
  await flush();
}

/** The _id of a document as relaxed Extended JSON, for messages. */
function idOf(bytes: Buffer | undefined): string | undefined {
  if (bytes === undefined) return undefined;
  const doc = BSON.deserialize(bytes, { promoteValues: false, bsonRegExp: true });
  return '_id' in doc ? BSON.EJSON.stringify(doc._id, { relaxed: true }) : undefined;
}

function insertFailure(error: RawInsertResult['writeErrors'][number], document: Buffer | undefined, name: string, label: string, batchStart: number, number: number): FerryError {
  if (error.code === 11000) {
    const key = error.keyValue === undefined ? error.errmsg : BSON.EJSON.stringify(error.keyValue, { relaxed: true });
    return new FerryError('MONGO_DUPLICATE_KEY', `duplicate key in ${label}: collection ${name} has two documents with ${key}`, {
      hint: `The dump itself holds a duplicate; the target was left as it was. Remove the duplicate from the dump, or restore without this collection (--collections).`,
    });
  }
  const id = idOf(document);
  if (error.code === 121) {
    return new FerryError('MONGO_FAILED', `document ${number} of ${label} (_id ${id ?? 'none'}) fails the validator of ${name}: ${error.errmsg}`, {
      hint: 'The target was left as it was. Fix the document or the validator, or set mongodb.bypass_document_validation: true (needs the restore or dbAdmin role) to insert it anyway.',
    });
  }
  return new FerryError('MONGO_FAILED', `inserting into ${name} failed at document ${number} of ${label} (_id ${id ?? 'none'}, batch from byte ${batchStart}): ${error.errmsg}`, {
    hint: 'The target was left as it was; fix the cause and restore again.',
  });
}
