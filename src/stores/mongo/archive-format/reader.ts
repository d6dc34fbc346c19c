import { BSON, type Document } from 'bson';
import { FerryError } from '../../../errors/index.js';
import { Crc64 } from './crc64.js';
import { archiveCorrupt, dataNamespace, MAGIC, MAX_DOCUMENT, type ArchiveCollection, type ArchiveHeader } from './format.js';

export type ArchiveEvent =
  | { kind: 'prelude'; header: ArchiveHeader; collections: ArchiveCollection[] }
  | { kind: 'document'; collection: ArchiveCollection; bytes: Buffer }
  /** The namespace's EOF block: its documents all came and their CRC-64 matched. */
  | { kind: 'end'; collection: ArchiveCollection; documents: number; bytes: number };

/** Pulls exact byte counts out of a stream of chunks, holding no more than one document and one chunk. */
class ByteSource {
  private pending: Buffer = Buffer.alloc(0);
  /** Bytes consumed so far, for messages. */
  offset = 0;

  constructor(private readonly chunks: AsyncIterator<Buffer>) {}

  /** Whether `n` more bytes are available (false at the end of the stream). */
  async has(n: number): Promise<boolean> {
    if (this.pending.length >= n) return true;
    // Chunks are joined once, not one by one: a document may span hundreds of them.
    const parts = [this.pending];
    let total = this.pending.length;
    let ended = false;
    while (total < n) {
      const next = await this.chunks.next();
      if (next.done === true) {
        ended = true;
        break;
      }
      const chunk = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value as Uint8Array);
      parts.push(chunk);
      total += chunk.length;
    }
    this.pending = parts.length === 1 ? this.pending : Buffer.concat(parts, total);
    return !ended;
  }

  take(n: number): Buffer {
    const out = this.pending.subarray(0, n);
    this.pending = this.pending.subarray(n);
    this.offset += n;
    return out;
  }

  peekInt32(): number {
    return this.pending.readInt32LE(0);
  }
}

interface NamespaceState {
  collection: ArchiveCollection;
  crc: Crc64;
  documents: number;
  bytes: number;
  closed: boolean;
}

/**
 * Reads a mongodump archive as it streams: the prelude first, then every document with its
 * collection, then each collection's end once its CRC-64 checked. Whatever is malformed, cut short,
 * or fails its CRC is a MONGO_ARCHIVE_CORRUPT error naming the byte offset (and the collection).
 */
export async function* readMongoArchive(source: AsyncIterable<Buffer>, label: string): AsyncGenerator<ArchiveEvent> {
  const chunks = source[Symbol.asyncIterator]();
  try {
    yield* readEvents(new ByteSource(chunks), label);
  } finally {
    // As for-await would: a stream given up on (refused, or the consumer stopped) is destroyed.
    await chunks.return?.();
  }
}

async function* readEvents(input: ByteSource, label: string): AsyncGenerator<ArchiveEvent> {
  const corrupt = (reason: string, at = input.offset) => archiveCorrupt(label, at, reason);

  /** The next document, or undefined for a terminator; `end` is what to say when the stream stops here. */
  const next = async (end: string): Promise<Buffer | undefined> => {
    if (!(await input.has(4))) throw corrupt(end);
    const size = input.peekInt32();
    if (size === -1) {
      input.take(4);
      return undefined;
    }
    if (size < 5 || size > MAX_DOCUMENT) throw corrupt(`${size} is neither a document length nor a terminator`);
    if (!(await input.has(size))) throw corrupt(`the stream ends inside a document of ${size} bytes`);
    const at = input.offset;
    const bytes = input.take(size);
    if (bytes[size - 1] !== 0) throw corrupt('a document does not end with a zero byte', at);
    return bytes;
  };
  const parse = (bytes: Buffer, what: string): Document => {
    try {
      return BSON.deserialize(bytes, { useBigInt64: true, validation: { utf8: true } });
    } catch (cause) {
      const error = corrupt(`${what} is not a BSON document (${(cause as Error).message})`, input.offset - bytes.length);
      throw new FerryError(error.code, error.message, { hint: error.hint, cause });
    }
  };

  if (!(await input.has(4)) || !input.take(4).equals(MAGIC)) throw corrupt('it does not start with the magic number 0x8199e26d', 0);
  const headerBytes = await next('the stream ends before the archive header');
  if (headerBytes === undefined) throw corrupt('a terminator where the archive header belongs');
  const head = parse(headerBytes, 'the archive header');
  const header: ArchiveHeader = { formatVersion: text(head.version), serverVersion: text(head.server_version), toolVersion: text(head.tool_version) };
  const collections: ArchiveCollection[] = [];
  const namespaces = new Map<string, NamespaceState>();
  for (;;) {
    const bytes = await next('the stream ends inside the prelude');
    if (bytes === undefined) break;
    const entry = parse(bytes, 'a prelude entry');
    if (typeof entry.db !== 'string' || typeof entry.collection !== 'string' || entry.collection === '') throw corrupt('a prelude entry names no collection');
    const collection: ArchiveCollection = { db: entry.db, collection: entry.collection, metadata: text(entry.metadata), type: text(entry.type) };
    const namespace = dataNamespace(collection);
    if (namespaces.has(namespace)) throw corrupt(`the prelude lists ${namespace} twice`);
    collections.push(collection);
    namespaces.set(namespace, { collection, crc: new Crc64(), documents: 0, bytes: 0, closed: false });
  }
  yield { kind: 'prelude', header, collections };

  for (;;) {
    if (!(await input.has(4))) {
      if (await input.has(1)) throw corrupt('the stream ends inside a block length');
      break;
    }
    const headerAt = input.offset;
    const block = await next('the stream ends before a block header');
    if (block === undefined) throw corrupt('two terminators in a row', headerAt);
    const namespaceHeader = parse(block, 'a block header');
    if (typeof namespaceHeader.db !== 'string' || typeof namespaceHeader.collection !== 'string' || typeof namespaceHeader.EOF !== 'boolean') {
      throw corrupt('a block header lacks db, collection or EOF', headerAt);
    }
    const name = `${namespaceHeader.db}.${namespaceHeader.collection}`;
    const state = namespaces.get(name);
    if (state === undefined) throw corrupt(`a block for ${name}, which the prelude does not list`, headerAt);
    if (state.closed) throw corrupt(`a block for ${name} after its end`, headerAt);
    if (namespaceHeader.EOF) {
      const expected = namespaceHeader.CRC;
      const actual = state.crc.signed();
      if ((typeof expected !== 'bigint' && typeof expected !== 'number') || BigInt(expected) !== actual) {
        throw new FerryError('MONGO_ARCHIVE_CORRUPT', `${label}: collection ${name} fails its CRC-64 check (the archive says ${String(expected)}, its ${state.documents} documents give ${actual})`, {
          hint: 'The stream was damaged on its way; nothing was kept from it. Run the command again; if it happens again, set mongodb.exec_transfer: wire.',
        });
      }
      state.closed = true;
      if ((await next(`the stream ends after the end of ${name}, before its terminator`)) !== undefined) throw corrupt(`documents follow the end of ${name}`);
      yield { kind: 'end', collection: state.collection, documents: state.documents, bytes: state.bytes };
      continue;
    }
    for (;;) {
      const doc = await next(`the stream ends inside a block of ${name}`);
      if (doc === undefined) break;
      state.crc.update(doc);
      state.documents++;
      state.bytes += doc.length;
      yield { kind: 'document', collection: state.collection, bytes: doc };
    }
  }
  const open = [...namespaces.entries()].filter(([, state]) => !state.closed).map(([name]) => name);
  if (open.length > 0) throw corrupt(`the stream ends before the end of ${open.join(', ')}`);
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}
