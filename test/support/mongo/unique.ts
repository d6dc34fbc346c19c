import { BSON, type Document } from 'bson';
import { CommandError } from './server.js';
import type { StoredCollection } from './storage.js';

/** Unique indexes other than _id that the test server enforces: plain ones (not sparse, not partial). */
function enforced(collection: StoredCollection): Document[] {
  return collection.indexes.filter((i) => i.unique === true && i.name !== '_id_' && i.sparse !== true && i.partialFilterExpression === undefined);
}

/** The value of a dotted path, null when missing (as a unique index sees it). */
function valueAt(doc: Document, path: string): unknown {
  let node: unknown = doc;
  for (const part of path.split('.')) node = typeof node === 'object' && node !== null ? (node as Document)[part] : undefined;
  return node ?? null;
}

function keyOf(index: Document, raw: Buffer): string {
  const doc = BSON.deserialize(raw, { promoteValues: false, bsonRegExp: true });
  return Buffer.from(BSON.serialize({ k: Object.keys(index.key as Document).map((field) => valueAt(doc, field)) })).toString('hex');
}

function duplicate(db: string, collection: StoredCollection, index: Document): CommandError {
  return new CommandError(11000, 'DuplicateKey', `E11000 duplicate key error collection: ${db}.${collection.name} index: ${String(index.name)}`);
}

/** Refuses a new unique index that the documents already break, as createIndexes does. */
export function checkNewUniqueIndex(db: string, collection: StoredCollection, spec: Document): void {
  if (spec.unique !== true || spec.sparse === true || spec.partialFilterExpression !== undefined) return;
  const seen = new Set<string>();
  for (const raw of collection.docs) {
    const key = keyOf(spec, raw);
    if (seen.has(key)) throw duplicate(db, collection, spec);
    seen.add(key);
  }
}

/** The unique index a new document would break, or undefined. */
export function uniqueViolation(collection: StoredCollection, raw: Buffer): Document | undefined {
  for (const index of enforced(collection)) {
    const key = keyOf(index, raw);
    if (collection.docs.some((existing) => keyOf(index, existing) === key)) return index;
  }
  return undefined;
}
