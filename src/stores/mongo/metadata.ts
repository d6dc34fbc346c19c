import { BSON, type Document } from 'bson';
import { FerryError } from '../../errors/index.js';

/** <collection>.metadata.json in the shape and key order mongodump writes (canonical Extended JSON). */
export interface CollectionMetadata {
  options?: Document;
  indexes: Document[];
  uuid?: string;
  collectionName: string;
  type?: string;
}

export function renderMetadata(meta: CollectionMetadata): string {
  const ordered: Document = {};
  if (meta.options !== undefined && Object.keys(meta.options).length > 0) ordered.options = meta.options;
  ordered.indexes = meta.indexes;
  if (meta.uuid !== undefined) ordered.uuid = meta.uuid;
  ordered.collectionName = meta.collectionName;
  if (meta.type !== undefined) ordered.type = meta.type;
  return BSON.EJSON.stringify(ordered, { relaxed: false });
}

export function parseMetadata(text: string, label: string, fallbackName: string): CollectionMetadata {
  // mongorestore reads an empty metadata file as no metadata; so does Ferry.
  if (text.trim() === '') return { indexes: [], collectionName: fallbackName };
  let parsed: Document;
  try {
    // Canonical and relaxed Extended JSON both occur in real dumps; keep numbers' exact types.
    parsed = BSON.EJSON.parse(text, { relaxed: false }) as Document;
  } catch (cause) {
    throw new FerryError('ARCHIVE_CORRUPT', `${label} is not valid Extended JSON`, { hint: 'The dump is damaged; restore from another backup.', cause });
  }
  return {
    ...(parsed.options === undefined ? {} : { options: parsed.options as Document }),
    indexes: Array.isArray(parsed.indexes) ? (parsed.indexes as Document[]) : [],
    ...(typeof parsed.uuid === 'string' ? { uuid: parsed.uuid } : {}),
    collectionName: typeof parsed.collectionName === 'string' ? parsed.collectionName : '',
    ...(typeof parsed.type === 'string' ? { type: parsed.type } : {}),
  };
}
