import { BSON, Int32, Long } from 'bson';
import { FerryError } from '../../../errors/index.js';

/**
 * mongodump's archive format (mongo-tools common/archive, spec.md): the magic number, a prelude (a
 * header document, one document per collection with its metadata, a terminator), then blocks, each
 * a namespace header, that namespace's documents and a terminator. A namespace ends with a block
 * whose header says EOF and carries the CRC-64 of all its documents.
 */
export const MAGIC = Buffer.from([0x6d, 0xe2, 0x99, 0x81]);
export const TERMINATOR = Buffer.from([0xff, 0xff, 0xff, 0xff]);
export const FORMAT_VERSION = '0.1';
/** mongod's largest document plus the room mongo-tools' parser allows (db.MaxBSONSize). */
export const MAX_DOCUMENT = 16 * 1024 * 1024 + 16 * 1024;

export interface ArchiveHeader {
  formatVersion: string;
  serverVersion: string;
  toolVersion: string;
}

/** One collection of the prelude. */
export interface ArchiveCollection {
  db: string;
  collection: string;
  /** The collection's metadata as mongodump writes <coll>.metadata.json (canonical Extended JSON); '' when none. */
  metadata: string;
  /** '' or 'collection', 'view', 'timeseries'. */
  type: string;
}

/** The namespace a collection's documents are under: a time-series collection's are its buckets'. */
export function dataNamespace(collection: ArchiveCollection): string {
  return `${collection.db}.${collection.type === 'timeseries' ? `system.buckets.${collection.collection}` : collection.collection}`;
}

export function encodePrelude(header: ArchiveHeader, collections: ArchiveCollection[]): Buffer {
  const head = BSON.serialize({ concurrent_collections: new Int32(1), version: header.formatVersion, server_version: header.serverVersion, tool_version: header.toolVersion });
  const entries = collections.map((c) => BSON.serialize({ db: c.db, collection: c.collection, metadata: c.metadata, size: new Int32(0), type: c.type }));
  return Buffer.concat([MAGIC, head, ...entries, TERMINATOR]);
}

export function encodeNamespaceHeader(db: string, collection: string, eof: boolean, crc: bigint): Buffer {
  return Buffer.from(BSON.serialize({ db, collection, EOF: eof, CRC: Long.fromBigInt(crc) }));
}

export function archiveCorrupt(label: string, offset: number, reason: string): FerryError {
  return new FerryError('MONGO_ARCHIVE_CORRUPT', `${label} is not a valid mongodump archive at byte ${offset}: ${reason}`, {
    hint: 'The stream was cut short or damaged on its way; nothing was kept from it. Run the command again; if it happens again, set mongodb.exec_transfer: wire.',
  });
}
