import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import type { Db } from 'mongodb';
import type { MongodbConfig } from '../../config/index.js';
import { FerryError, throwIfAborted } from '../../errors/index.js';
import type { Container } from '../../process/container.js';
import { formatBytes, plural } from '../../util/format.js';
import { drainedOrClosed } from '../../util/drain.js';
import type { StoreContext } from '../store.js';
import { readMongoArchive } from './archive-format/reader.js';
import { runContainerTool, toolFailure } from './container-tools.js';
import { stageCollection, stagedDump, stagingPath, type CollectionDump, type CollectionInfo, type DumpSettings } from './dump.js';
import { parseMetadata, type CollectionMetadata } from './metadata.js';

export interface ArchiveDump {
  counts: Record<string, number>;
  bytes: number;
  staged: CollectionDump[];
  /** "mongodump 100.11.0", from the archive's header. */
  toolVersion: string;
}

interface Receiving {
  file: WriteStream | undefined;
  documents: number;
  bytes: number;
  ended: boolean;
  metadata: string | undefined;
}

/**
 * mongodb.exec with the tools in the container: `mongodump --archive --db <db>` runs there and its
 * stream is read here as it comes, each collection's documents going to their staging file, so the
 * archive gets the same mongodb/<db>/<coll>.bson and .metadata.json entries the driver path writes.
 * Collections not selected (and the copies restores keep) are excluded; time-series collections,
 * whose buckets mongodump dumps rather than their measurements, are read through the tunnel.
 */
export async function dumpThroughContainer(container: Container, config: MongodbConfig, db: Db, collections: CollectionInfo[], all: CollectionInfo[], ctx: StoreContext, settings: DumpSettings): Promise<ArchiveDump> {
  const timeseries = collections.filter((c) => c.type === 'timeseries' || c.options.timeseries !== undefined);
  const wanted = new Map(collections.filter((c) => !timeseries.includes(c)).map((c) => [c.name, c]));
  const excluded = all.filter((c) => !wanted.has(c.name)).map((c) => `--excludeCollection=${c.name}`);
  const receiving = new Map<string, Receiving>();
  const stop = new AbortController();
  const signal = AbortSignal.any([ctx.signal, stop.signal]);
  const output = new PassThrough();
  const label = `the mongodump archive from ${container.label}`;
  let toolVersion = '';
  let bytes = 0;
  // A staging file's write error (a full disk) is kept and thrown by the reader, never left unhandled.
  let writeError: Error | undefined;
  const stagingFile = (name: string) => createWriteStream(stagingPath(ctx, name), { mode: 0o600 }).on('error', (error) => {
    writeError ??= error;
  });
  ctx.progress.start(`dumping ${settings.label} with mongodump`);

  const read = (async () => {
    for await (const event of readMongoArchive(output, label)) {
      throwIfAborted(ctx.signal);
      if (event.kind === 'prelude') {
        toolVersion = event.header.toolVersion;
        for (const c of event.collections) {
          if (c.db === db.databaseName && wanted.has(c.collection)) receiving.set(c.collection, { file: undefined, documents: 0, bytes: 0, ended: false, metadata: c.metadata });
        }
        continue;
      }
      const into = event.collection.db === db.databaseName ? receiving.get(event.collection.collection) : undefined;
      if (into === undefined) continue;
      if (event.kind === 'document') {
        into.file ??= stagingFile(event.collection.collection);
        into.documents++;
        into.bytes += event.bytes.length;
        bytes += event.bytes.length;
        if (!into.file.write(event.bytes)) await drainedOrClosed(into.file);
        if (writeError !== undefined) throw writeError;
        ctx.progress.update(bytes);
      } else {
        into.ended = true;
        if (into.file !== undefined) await closeFile(into.file);
        if (writeError !== undefined) throw writeError;
      }
    }
  })();
  const run = runContainerTool(container, 'mongodump', config, 'read', ['--db', db.databaseName, '--archive', '--numParallelCollections=1', ...excluded], { signal, stdout: output });
  // Whichever side fails first ends the other and is the error reported: a stream the reader
  // refuses stops mongodump; docker failing or Ctrl-C ends the stream. A mongodump that exits with
  // an error says why better than the cut stream it leaves.
  let first: { error: unknown } | undefined;
  read.catch((error: unknown) => {
    first ??= { error };
    stop.abort();
    output.destroy();
  });
  run.catch((error: unknown) => {
    first ??= { error };
    output.destroy();
  });
  const [, running] = await Promise.allSettled([read, run]);
  for (const r of receiving.values()) r.file?.destroy();
  if (running.status === 'fulfilled' && running.value.exitCode !== 0) {
    throw toolFailure(container, 'mongodump', config, running.value, 'Nothing was written. Check the message (the user needs the backup or read role); mongodb.exec_transfer: wire reads through the tunnel instead.');
  }
  if (first !== undefined) throw first.error;

  const counts: Record<string, number> = {};
  const staged: CollectionDump[] = [];
  for (const info of collections) {
    if (timeseries.includes(info)) {
      const collection = await stageCollection(db, info, ctx, settings.exportCollections.includes(info.name));
      counts[info.name] = collection.documents;
      bytes += collection.bytes;
      staged.push(collection);
      continue;
    }
    const got = receiving.get(info.name);
    if (got === undefined || !got.ended) {
      throw new FerryError('MONGO_FAILED', `${settings.label}: ${info.name} is not in the archive mongodump wrote (dropped while the backup ran?)`, { hint: 'Run the backup again.' });
    }
    const label = `${db.databaseName}.${info.name} in mongodump's archive`;
    const described = normalised(got.metadata === undefined || got.metadata === '' ? { indexes: [], collectionName: info.name, options: info.options } : parseMetadata(got.metadata, label, info.name), info);
    if (info.type === 'view') {
      staged.push(await stagedDump(db.databaseName, described, undefined, ctx, false));
      continue;
    }
    // A collection with no documents gets an empty file, as the driver path writes one.
    if (got.file === undefined) await closeFile(stagingFile(info.name));
    if (writeError !== undefined) throw writeError;
    counts[info.name] = got.documents;
    staged.push(await stagedDump(db.databaseName, described, { path: stagingPath(ctx, info.name), documents: got.documents, bytes: got.bytes }, ctx, settings.exportCollections.includes(info.name)));
  }
  ctx.progress.done(`${plural(Object.keys(counts).length, 'collection')}, ${plural(Object.values(counts).reduce((a, b) => a + b, 0), 'document')}, ${formatBytes(bytes)}`);
  return { counts, bytes, staged, toolVersion: `mongodump ${toolVersion}` };
}

/** mongodump's metadata in the shape the driver path renders: `type` only for what is not a plain collection. */
function normalised(metadata: CollectionMetadata, info: CollectionInfo): CollectionMetadata {
  const { type, ...rest } = metadata;
  return { ...rest, collectionName: info.name, ...(type === undefined || type === 'collection' || type === '' ? {} : { type }) };
}

/** Ends the file; an error is reported by its error listener. */
async function closeFile(file: WriteStream): Promise<void> {
  if (!file.closed) {
    file.end();
    await once(file, 'close');
  }
}
