import { createRequire } from 'node:module';
import type { Db, Document } from 'mongodb';

/**
 * Inserting documents as the exact bytes they were dumped in. The driver's public insert API takes
 * objects and re-encodes them, which changes documents that use deprecated BSON types (undefined,
 * DBPointer, symbol). Its OP_MSG layer also sends pre-encoded documents as a document sequence; that
 * class is internal, so it is loaded here in one place, with the driver's version pinned in
 * package.json and a byte-for-byte round-trip test guarding it.
 */
interface DocumentSequenceClass {
  new (field: string): { push(document: unknown, bytes: Uint8Array): number };
}

let documentSequence: DocumentSequenceClass | undefined;

function DocumentSequenceOf(): DocumentSequenceClass {
  documentSequence ??= (createRequire(import.meta.url)('mongodb/lib/cmap/commands.js') as { DocumentSequence: DocumentSequenceClass }).DocumentSequence;
  return documentSequence;
}

export interface RawInsertResult {
  inserted: number;
  writeErrors: Array<{ index: number; code: number; errmsg: string; keyValue?: Document }>;
}

export async function insertRaw(db: Db, collection: string, documents: Buffer[], bypassDocumentValidation = false): Promise<RawInsertResult> {
  const DocumentSequence = DocumentSequenceOf();
  const sequence = new DocumentSequence('documents');
  for (const bytes of documents) sequence.push({}, bytes);
  const reply = await db.command({ insert: collection, documents: sequence, ordered: true, ...(bypassDocumentValidation ? { bypassDocumentValidation: true } : {}) });
  return {
    inserted: Number(reply.n ?? 0),
    writeErrors: ((reply.writeErrors ?? []) as Document[]).map((e) => ({
      index: Number(e.index),
      code: Number(e.code),
      errmsg: String(e.errmsg ?? ''),
      ...(e.keyValue === undefined ? {} : { keyValue: e.keyValue as Document }),
    })),
  };
}
