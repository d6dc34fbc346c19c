import { Crc64 } from './crc64.js';
import { encodeNamespaceHeader, encodePrelude, FORMAT_VERSION, TERMINATOR, type ArchiveCollection } from './format.js';

export interface ArchiveCollectionSource extends ArchiveCollection {
  documents: AsyncIterable<Buffer>;
}

/** Output is handed on in pieces of about this size rather than document by document. */
const CHUNK = 1024 * 1024;

/**
 * A mongodump archive that `mongorestore --archive` reads: the prelude, then each collection in one
 * block followed by its EOF block with the CRC-64 of its documents. Documents are read from their
 * sources one at a time, as the output is consumed.
 */
export async function* writeMongoArchive(versions: { serverVersion: string; toolVersion: string }, collections: ArchiveCollectionSource[]): AsyncGenerator<Buffer> {
  yield encodePrelude({ formatVersion: FORMAT_VERSION, ...versions }, collections);
  for (const collection of collections) {
    const crc = new Crc64();
    let pending: Buffer[] = [encodeNamespaceHeader(collection.db, collection.collection, false, 0n)];
    let size = 0;
    for await (const doc of collection.documents) {
      crc.update(doc);
      pending.push(doc);
      size += doc.length;
      if (size >= CHUNK) {
        yield Buffer.concat(pending);
        pending = [];
        size = 0;
      }
    }
    yield Buffer.concat([...pending, TERMINATOR, encodeNamespaceHeader(collection.db, collection.collection, true, crc.signed()), TERMINATOR]);
  }
}
