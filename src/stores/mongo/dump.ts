import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { BSON, Binary, type Document } from 'bson';
import type { Db } from 'mongodb';
import type { ArchiveSink } from '../../archive/index.js';
import { throwIfAborted } from '../../errors/index.js';
import type { StoreContext } from '../store.js';
import { EXACT_TYPES, parseDocument, readBsonFile } from './bson-file.js';
import { renderMetadata } from './metadata.js';
import { escapeCollectionName } from './names.js';

export interface CollectionInfo {
  name: string;
  type: string;
  options: Document;
  uuid: string | undefined;
}

/** Collections and views of a database, without system.* (as mongodump skips them). */
export async function listDumpable(db: Db): Promise<CollectionInfo[]> {
  const infos = await db.listCollections({}, { nameOnly: false, ...EXACT_TYPES }).toArray();
  return infos
    .filter((info) => !info.name.startsWith('system.'))
    .map((info) => {
      const uuid = (info as { info?: { uuid?: unknown } }).info?.uuid;
      return {
        name: info.name,
        type: info.type ?? 'collection',
        options: ((info as { options?: Document }).options ?? {}) as Document,
        uuid: isBinary(uuid) ? Buffer.from(uuid.buffer).toString('hex') : undefined,
      };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * The driver loads bson's CommonJS build and Ferry its ES module build, so `instanceof` cannot
 * recognise the driver's values; the BSON type tag can.
 */
function isBinary(value: unknown): value is Binary {
  return typeof value === 'object' && value !== null && (value as { _bsontype?: unknown })._bsontype === 'Binary';
}

export interface DumpedCollection {
  name: string;
  documents: number;
  bytes: number;
}

/**
 * Writes one collection as mongodump does: the raw BSON of every document, back to back, exactly as
 * the server sent it (never decoded), and its metadata file. Views get metadata only.
 */
export async function dumpCollection(db: Db, info: CollectionInfo, sink: ArchiveSink, ctx: StoreContext, exportJson: boolean): Promise<DumpedCollection> {
  const base = `mongodb/${db.databaseName}/${escapeCollectionName(info.name)}`;
  const isView = info.type === 'view';
  const indexes = isView ? [] : await db.collection(info.name).listIndexes(EXACT_TYPES).toArray();
  const metadata = renderMetadata({ options: info.options, indexes, uuid: info.uuid, collectionName: info.name, ...(info.type === 'collection' ? {} : { type: info.type }) });
  if (isView) {
    await sink.addBuffer(`${base}.metadata.json`, Buffer.from(metadata), { mode: 0o600 });
    return { name: info.name, documents: 0, bytes: 0 };
  }

  const temp = join(ctx.tempDir, `${escapeCollectionName(info.name)}.bson`);
  const out = createWriteStream(temp, { mode: 0o600 });
  let documents = 0;
  let bytes = 0;
  try {
    const cursor = db.collection(info.name).find({}, { raw: true, batchSize: 1000 });
    try {
      for await (const raw of cursor as AsyncIterable<Buffer>) {
        throwIfAborted(ctx.signal);
        documents++;
        bytes += raw.length;
        if (!out.write(raw)) await once(out, 'drain');
      }
    } finally {
      await cursor.close();
    }
    out.end();
    await once(out, 'finish');
    const size = (await stat(temp)).size;
    await sink.addFile(`${base}.bson`, temp, size, { mode: 0o600 });
    await sink.addBuffer(`${base}.metadata.json`, Buffer.from(metadata), { mode: 0o600 });
    if (exportJson) await writeJsonExport(temp, info.name, sink, ctx);
    return { name: info.name, documents, bytes };
  } finally {
    out.destroy();
    await rm(temp, { force: true });
  }
}

/**
 * <collection>_export.json: one JSON array of relaxed Extended JSON (what mongoexport --jsonArray
 * gives), made from the BSON just dumped rather than by reading the server twice.
 */
async function writeJsonExport(bsonPath: string, name: string, sink: ArchiveSink, ctx: StoreContext): Promise<void> {
  const temp = join(ctx.tempDir, `${escapeCollectionName(name)}_export.json`);
  const out = createWriteStream(temp, { mode: 0o600 });
  try {
    out.write('[');
    let first = true;
    for await (const doc of readBsonFile(bsonPath, `${name}.bson`)) {
      const text = BSON.EJSON.stringify(parseDocument(doc, `${name}.bson`), { relaxed: true });
      if (!out.write(`${first ? '\n' : ',\n'}${text}`)) await once(out, 'drain');
      first = false;
    }
    out.end(first ? ']\n' : '\n]\n');
    await once(out, 'finish');
    await sink.addFile(`${escapeCollectionName(name)}_export.json`, temp, (await stat(temp)).size, { mode: 0o600 });
  } finally {
    out.destroy();
    await rm(temp, { force: true });
  }
}
