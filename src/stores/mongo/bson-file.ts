import { isAscii } from 'node:buffer';
import { createReadStream } from 'node:fs';
import { BSON, type Document } from 'bson';
import { FerryError } from '../../errors/index.js';
import { invalidUtf8 } from './bson-utf8.js';

const MAX_DOCUMENT = 16 * 1024 * 1024 + 16 * 1024;

/** Options that keep every value's exact BSON type, so re-encoding gives the same bytes. */
export const EXACT_TYPES = { promoteValues: false, promoteLongs: false, promoteBuffers: false, bsonRegExp: true } as const;

export interface RawDocument {
  bytes: Buffer;
  /** Byte offset of the document in its file. */
  offset: number;
  /** Its position in the file, from 1. */
  number: number;
}

function corrupt(file: string, offset: number, reason: string): FerryError {
  return new FerryError('ARCHIVE_CORRUPT', `${file} is not valid BSON at byte ${offset}: ${reason}`, {
    hint: 'The dump is damaged; restore from another backup. Nothing was written to the database.',
  });
}

/**
 * Streams the documents of a .bson file (documents back to back, as mongodump writes them) without
 * holding more than one document in memory. A truncated or malformed file is an error naming the
 * file and the byte offset.
 */
export function readBsonFile(path: string, label = path): AsyncGenerator<RawDocument> {
  return readBsonStream(createReadStream(path, { highWaterMark: 1024 * 1024 }), label);
}

/** The same over any stream of .bson bytes (an archive entry while it is read). */
export async function* readBsonStream(source: AsyncIterable<Buffer>, label: string): AsyncGenerator<RawDocument> {
  let pending: Buffer = Buffer.alloc(0);
  let offset = 0;
  let number = 0;
  for await (const chunk of source) {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let start = 0;
    while (pending.length - start >= 4) {
      const size = pending.readInt32LE(start);
      if (size < 5 || size > MAX_DOCUMENT) throw corrupt(label, offset, `document length ${size} is impossible`);
      if (pending.length - start < size) break;
      const bytes = pending.subarray(start, start + size);
      if (bytes[size - 1] !== 0) throw corrupt(label, offset, 'document does not end with a zero byte');
      yield { bytes, offset, number: ++number };
      start += size;
      offset += size;
    }
    pending = pending.subarray(start);
  }
  if (pending.length > 0) throw corrupt(label, offset, `file ends in the middle of a document (${pending.length} bytes left)`);
}

/**
 * Parses one document fully (every element checked, field names and regular expressions included),
 * or throws ARCHIVE_CORRUPT with its offset and number.
 */
export function parseDocument(doc: RawDocument, label: string): Document {
  let parsed: Document;
  try {
    parsed = BSON.deserialize(doc.bytes, { ...EXACT_TYPES, validation: { utf8: true } });
  } catch (cause) {
    const error = corrupt(label, doc.offset, `document ${doc.number}: ${(cause as Error).message}`);
    throw new FerryError(error.code, error.message, { hint: error.hint, cause });
  }
  // Pure ASCII cannot be invalid UTF-8: most documents skip the walk.
  const problem = isAscii(doc.bytes) ? undefined : invalidUtf8(doc.bytes);
  if (problem !== undefined) throw corrupt(label, doc.offset, `document ${doc.number}: ${problem}`);
  return parsed;
}
