import { randomBytes } from 'node:crypto';
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
function createOptions(options: Document | undefined): Document {
  const out: Document = {};
  for (const [key, value] of Object.entries(options ?? {})) if (key !== 'uuid') out[key] = value;
  return out;
}

/**
 * Restores one collection without a moment where it is half there: documents go into a temporary
 * collection in bounded batches, indexes are built on it, and it is renamed over the target in one
 * step. A failure drops the temporary collection and leaves the target as it was.
 */
export async function restoreCollection(db: Db, collection: CheckedCollection, batchSize: number, ctx: StoreContext, masking?: DocumentMasker): Promise<void> {
  const { metadata, name } = collection;
  if (metadata.type === 'view') {
    await db.collection(name).drop().catch(() => undefined);
    await db.createCollection(name, createOptions(metadata.options));
    return;
  }
  const temporary = `${name}.ferry-restore-${randomBytes(4).toString('hex')}`;
  await db.createCollection(temporary, createOptions(metadata.options));
  try {
    if (collection.bsonPath !== undefined) await insertAll(db, temporary, name, collection.bsonPath, collection.label, batchSize, ctx, masking);
    const indexes = metadata.indexes
      .filter((index) => index.name !== '_id_')
      .map((index) => {
        const spec: Document = {};
        for (const [key, value] of Object.entries(index)) if (key !== 'ns') spec[key] = value;
        return spec;
      });
    if (indexes.length > 0) await db.command({ createIndexes: temporary, indexes });
    await db.renameCollection(temporary, name, { dropTarget: true });
  } catch (error) {
    await db.collection(temporary).drop().catch(() => undefined);
    throw error;
  }
}

async function insertAll(db: Db, into: string, name: string, path: string, label: string, batchSize: number, ctx: StoreContext, masking: DocumentMasker | undefined): Promise<void> {
  let batch: Buffer[] = [];
  let batchBytes = 0;
  let batchStart = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    const result = await insertRaw(db, into, batch);
    const first = result.writeErrors[0];
    if (first !== undefined) throw insertFailure(first, name, label, batchStart);
    batch = [];
    batchBytes = 0;
  };
  for await (const doc of readBsonFile(path, label)) {
    throwIfAborted(ctx.signal);
    if (batch.length === 0) batchStart = doc.offset;
    // Documents are sent exactly as dumped (or as masked); the batch copies them out of the read buffer.
    const bytes = masking === undefined ? Buffer.from(doc.bytes) : masking.apply(Buffer.from(doc.bytes));
    batch.push(bytes);
    batchBytes += bytes.length;
    if (batch.length >= batchSize || batchBytes >= 8 * 1024 * 1024) await flush();
  }
  await flush();
}

function insertFailure(error: RawInsertResult['writeErrors'][number], name: string, label: string, batchStart: number): FerryError {
  if (error.code === 11000) {
    const key = error.keyValue === undefined ? error.errmsg : BSON.EJSON.stringify(error.keyValue, { relaxed: true });
    return new FerryError('MONGO_DUPLICATE_KEY', `duplicate key in ${label}: collection ${name} has two documents with ${key}`, {
      hint: `The dump itself holds a duplicate; collection ${name} was left as it was. Remove the duplicate from the dump, or restore without this collection (--collections).`,
    });
  }
  return new FerryError('MONGO_FAILED', `inserting into ${name} failed (batch from byte ${batchStart} of ${label}): ${error.errmsg}`, {
    hint: `Collection ${name} was left as it was; fix the cause and restore again.`,
  });
}
