import { randomBytes } from 'node:crypto';
import { Binary, BSON, Int32, type Document } from 'bson';

/** One collection of the test server: documents kept as the exact bytes the client sent. */
export interface StoredCollection {
  name: string;
  type: 'collection' | 'view' | 'timeseries';
  uuid: Binary;
  options: Document;
  indexes: Document[];
  docs: Buffer[];
  /** The operation time of each document's insert, for snapshot reads. */
  times: number[];
  ids: Set<string>;
}

export class Storage {
  readonly databases = new Map<string, Map<string, StoredCollection>>();

  database(name: string): Map<string, StoredCollection> {
    let db = this.databases.get(name);
    if (db === undefined) {
      db = new Map();
      this.databases.set(name, db);
    }
    return db;
  }

  get(db: string, name: string): StoredCollection | undefined {
    return this.databases.get(db)?.get(name);
  }

  create(db: string, name: string, options: Document = {}, type: StoredCollection['type'] = 'collection'): StoredCollection {
    const collection: StoredCollection = {
      name,
      type,
      uuid: new Binary(randomBytes(16), 4),
      options,
      indexes: type !== 'collection' ? [] : [idIndex(options)],
      docs: [],
      times: [],
      ids: new Set(),
    };
    this.database(db).set(name, collection);
    return collection;
  }
}

/** The _id index; a clustered collection lists its clustered index instead, which createIndexes cannot make. */
function idIndex(options: Document): Document {
  const clustered = options.clusteredIndex as Document | undefined;
  if (clustered === undefined) return { v: new Int32(2), key: { _id: new Int32(1) }, name: '_id_' };
  return { v: new Int32(2), key: { _id: new Int32(1) }, name: typeof clustered.name === 'string' ? clustered.name : '_id_', unique: true, clustered: true };
}

/** The identity of a document's _id, from its encoded value. */
export function idKey(raw: Buffer): { key: string; value: unknown } | undefined {
  const doc = BSON.deserialize(raw, { promoteValues: false, bsonRegExp: true });
  if (!('_id' in doc)) return undefined;
  return { key: Buffer.from(BSON.serialize({ _id: doc._id })).toString('hex'), value: doc._id };
}
