import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { BSON, Binary, type Document } from 'bson';
import type { ClientSession, Db, MongoClient } from 'mongodb';
import type { ArchiveSink } from '../../archive/index.js';
import { throwIfAborted } from '../../errors/index.js';
import { formatBytes, plural } from '../../util/format.js';
import type { StoreContext } from '../store.js';
import { EXACT_TYPES, parseDocument, readBsonFile } from './bson-file.js';
import { renderMetadata, type CollectionMetadata } from './metadata.js';
import { featuresOf, type Feature } from './compatibility.js';
import { escapeCollectionName } from './names.js';
import { isKeptName } from './kept.js';

export interface CollectionInfo {
  name: string;
  type: string;
  options: Document;
  uuid: string | undefined;
}

/**
 * Collections and views of a database, without system.* (as mongodump skips them) and without the
 * copies restores keep beside their targets (`<coll>__ferry_prev`, …).
 */
export async function listDumpable(db: Db): Promise<CollectionInfo[]> {
  return (await listAll(db)).filter((info) => !isKeptName(info.name));
}

/** Every collection and view but system.*, kept copies included. */
export async function listAll(db: Db): Promise<CollectionInfo[]> {
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

export interface CollectionDump {
  name: string;
  documents: number;
  bytes: number;
  /** What the collection uses that not every server version accepts. */
  features: Feature[];
  /** Adds the collection's entries to the archive and removes its temporary files. */
  write(sink: ArchiveSink): Promise<void>;
}

/**
 * Stages one collection as mongodump writes it: the raw BSON of every document, back to back,
 * exactly as the server sent it (never decoded), its metadata, and its JSON export when asked.
 * Views get metadata only.
 */
export async function stageCollection(db: Db, info: CollectionInfo, ctx: StoreContext, exportJson: boolean, session?: ClientSession): Promise<CollectionDump> {
  const isView = info.type === 'view';
  const indexes = isView ? [] : await db.collection(info.name).listIndexes(EXACT_TYPES).toArray();
  const described: CollectionMetadata = { options: info.options, indexes, uuid: info.uuid, collectionName: info.name, ...(info.type === 'collection' ? {} : { type: info.type }) };
  if (isView) return stagedDump(db.databaseName, described, undefined, ctx, false);
  const temp = stagingPath(ctx, info.name);
  let documents = 0;
  let bytes = 0;
  const cursor = db.collection(info.name).find({}, { raw: true, batchSize: 1000, ...(session === undefined ? {} : { session }) });
  try {
    // pipeline() ends or destroys the file on every path: a cursor failing part-way leaves no write in flight.
    await pipeline(async function* () {
      for await (const raw of cursor as AsyncIterable<Buffer>) {
        throwIfAborted(ctx.signal);
        documents++;
        bytes += raw.length;
        yield raw;
      }
    }, createWriteStream(temp, { mode: 0o600 }));
  } finally {
    await cursor.close();
  }
  return stagedDump(db.databaseName, described, { path: temp, documents, bytes }, ctx, exportJson);
}

/** Where a collection's documents are staged before they go into the archive. */
export function stagingPath(ctx: StoreContext, name: string): string {
  return join(ctx.tempDir, `${escapeCollectionName(name)}.bson`);
}

/**
 * A collection whose documents are staged (none for a view), ready to be added to the archive as
 * mongodb/<db>/<coll>.bson and .metadata.json, with its JSON export when asked.
 */
export async function stagedDump(database: string, described: CollectionMetadata, data: { path: string; documents: number; bytes: number } | undefined, ctx: StoreContext, exportJson: boolean): Promise<CollectionDump> {
  const name = described.collectionName;
  const base = `mongodb/${database}/${escapeCollectionName(name)}`;
  const metadata = Buffer.from(renderMetadata(described));
  const features = featuresOf(described, name);
  if (data === undefined) {
    return { name, documents: 0, bytes: 0, features, write: async (sink) => void (await sink.addBuffer(`${base}.metadata.json`, metadata, { mode: 0o600 })) };
  }
  const temp = data.path;
  const exported = exportJson ? await stageJsonExport(temp, name, ctx) : undefined;
  return {
    name,
    documents: data.documents,
    bytes: data.bytes,
    features,
    write: async (sink) => {
      await sink.addFile(`${base}.bson`, temp, (await stat(temp)).size, { mode: 0o600 });
      await rm(temp, { force: true });
      await sink.addBuffer(`${base}.metadata.json`, metadata, { mode: 0o600 });
      if (exported !== undefined) {
        await sink.addFile(`${escapeCollectionName(name)}_export.json`, exported, (await stat(exported)).size, { mode: 0o600 });
        await rm(exported, { force: true });
      }
    },
  };
}

/**
 * <collection>_export.json: one JSON array of relaxed Extended JSON (what mongoexport --jsonArray
 * gives), made from the BSON just dumped rather than by reading the server twice.
 */
async function stageJsonExport(bsonPath: string, name: string, ctx: StoreContext): Promise<string> {
  const temp = join(ctx.tempDir, `${escapeCollectionName(name)}_export.json`);
  await pipeline(async function* () {
    yield '[';
    let first = true;
    for await (const doc of readBsonFile(bsonPath, `${name}.bson`)) {
      yield `${first ? '\n' : ',\n'}${BSON.EJSON.stringify(parseDocument(doc, `${name}.bson`), { relaxed: true })}`;
      first = false;
    }
    yield first ? ']\n' : '\n]\n';
  }, createWriteStream(temp, { mode: 0o600 }));
  return temp;
}

export interface DumpedCollections {
  counts: Record<string, number>;
  bytes: number;
  staged: CollectionDump[];
  /** The cluster time every collection was read at, in a snapshot session. */
  atClusterTime?: string;
  /** Why a snapshot dump was given up. */
  fallback?: string;
}

export interface DumpSettings {
  /** The store, for the progress line. */
  label: string;
  exportCollections: string[];
}

/**
 * Reads every collection, in a snapshot session when asked: then every find reads at the cluster
 * time the first one was given. A server that cannot serve the snapshot any longer (history too
 * short) says so in `fallback`.
 */
export async function dumpCollections(client: MongoClient, db: Db, collections: CollectionInfo[], ctx: StoreContext, settings: DumpSettings, snapshot: boolean): Promise<DumpedCollections> {
  const session = snapshot ? client.startSession({ snapshot: true }) : undefined;
  const counts: Record<string, number> = {};
  const staged: CollectionDump[] = [];
  let bytes = 0;
  ctx.progress.start(`dumping ${settings.label}${snapshot ? ' (snapshot)' : ''}`);
  try {
    for (const info of collections) {
      throwIfAborted(ctx.signal);
      const collection = await stageCollection(db, info, ctx, settings.exportCollections.includes(info.name), session);
      staged.push(collection);
      if (info.type !== 'view') counts[info.name] = collection.documents;
      bytes += collection.bytes;
      ctx.progress.update(bytes);
    }
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (session !== undefined && (code === 239 || code === 246)) {
      await session.endSession().catch(() => undefined);
      return { counts: {}, bytes: 0, staged: [], fallback: `the server cannot read at one cluster time any more (${(error as Error).message})` };
    }
    throw error;
  }
  // The driver keeps the cluster time of a snapshot session internally (pinned driver version; a test reads it back).
  const time = (session as { snapshotTime?: { high: number; low: number } } | undefined)?.snapshotTime;
  await session?.endSession();
  ctx.progress.done(`${plural(Object.keys(counts).length, 'collection')}, ${plural(Object.values(counts).reduce((a, b) => a + b, 0), 'document')}, ${formatBytes(bytes)}`);
  return { counts, bytes, staged, ...(time === undefined ? {} : { atClusterTime: `Timestamp(${time.high}, ${time.low})` }) };
}
