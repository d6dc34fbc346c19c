import { Readable } from 'node:stream';
import type { MongodbConfig } from '../../config/index.js';
import { FerryError, throwIfAborted } from '../../errors/index.js';
import type { Container } from '../../process/container.js';
import { FERRY_VERSION } from '../../version.js';
import { writeMongoArchive, type ArchiveCollectionSource } from './archive-format/writer.js';
import { driverLoader, type Load, type Loader } from './apply.js';
import { readBsonFile } from './bson-file.js';
import { runContainerTool, toolFailure } from './container-tools.js';
import { renderMetadata } from './metadata.js';
import { isTimeseries } from './restore.js';

/**
 * mongodb.exec with the tools in the container: the collections to load are written here as one
 * mongodump archive stream, under the names they are loaded as (<coll>__ferry_new, …), and piped
 * into `mongorestore --archive` there, which creates each with its dumped options, inserts the
 * documents in order (masked on the way when asked) and builds the indexes. Nothing is dropped
 * (no --drop): the swap, the counts and --undo stay with the driver, as without exec. Views and
 * time-series collections, which mongorestore would treat differently, are loaded by the driver.
 */
export function archiveLoader(container: Container, config: MongodbConfig, serverVersion: string): Loader {
  return async (db, loads, settings) => {
    const plain = loads.filter((l) => (l.collection.metadata.type ?? 'collection') === 'collection' && !isTimeseries(l.collection.metadata));
    if (plain.length > 0) {
      throwIfAborted(settings.ctx.signal);
      const sources: ArchiveCollectionSource[] = plain.map((load) => ({
        db: db.databaseName,
        collection: load.into,
        metadata: renderMetadata({ ...load.collection.metadata, uuid: undefined, collectionName: load.into, type: undefined }),
        type: 'collection',
        documents: documentsOf(load),
      }));
      const archive = Readable.from(writeMongoArchive({ serverVersion, toolVersion: `ferry ${FERRY_VERSION}` }, sources));
      const args = ['--archive', '--maintainInsertionOrder', ...(config.bypass_document_validation ? ['--bypassDocumentValidation'] : [])];
      const result = await runContainerTool(container, 'mongorestore', config, 'write', args, { signal: settings.ctx.signal, stdin: archive });
      if (result.exitCode !== 0) {
        const failure = toolFailure(container, 'mongorestore', config, result, 'Nothing was replaced: every target collection is as it was. Check the message; mongodb.exec_transfer: wire loads through the tunnel instead.');
        if (/E11000 duplicate key/.test(failure.message)) throw new FerryError('MONGO_DUPLICATE_KEY', failure.message, { hint: 'The dump itself holds a duplicate; the target was left as it was. Remove the duplicate from the dump, or restore without this collection (--collections).' });
        throw failure;
      }
    }
    await driverLoader(db, loads.filter((l) => !plain.includes(l)), settings);
  };
}

/** The collection's staged documents, exactly as dumped or as masked. */
async function* documentsOf(load: Load): AsyncGenerator<Buffer> {
  if (load.collection.bsonPath === undefined) return;
  for await (const doc of readBsonFile(load.collection.bsonPath, load.collection.label)) {
    yield load.masker === undefined ? doc.bytes : load.masker.apply(Buffer.from(doc.bytes));
  }
}
