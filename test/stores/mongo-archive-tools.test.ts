import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Binary, BSON, BSONSymbol, Decimal128, Double, Int32, Long, ObjectId, Timestamp } from 'bson';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readMongoArchive } from '../../src/stores/mongo/archive-format/reader.js';
import { writeMongoArchive } from '../../src/stores/mongo/archive-format/writer.js';
import { parseMetadata, renderMetadata } from '../../src/stores/mongo/metadata.js';
import { MongoTestServer } from '../support/mongo/server.js';
import { mongoToolsDir } from '../support/mongo-tools.js';
import { missing } from '../support/needs.js';

const tools = mongoToolsDir();

/** Runs a real tool without blocking this process, which is also the server it talks to. */
function tool(name: string, args: string[], stdin?: Readable): { stdout: Readable; done: Promise<{ code: number | null; stderr: string }> } {
  const child = spawn(join(tools as string, name), args, { stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
  if (stdin !== undefined && child.stdin !== null) stdin.pipe(child.stdin);
  let stderr = '';
  (child.stderr as Readable).setEncoding('utf8').on('data', (c: string) => (stderr += c));
  return { stdout: child.stdout as Readable, done: new Promise((resolveDone) => child.on('close', (code) => resolveDone({ code, stderr }))) };
}

describe.skipIf(missing('the real mongodump/mongorestore (../shared/tools/mongo-tools/build.sh)', tools !== undefined))('Ferry\'s mongodump archive reader and writer against the real tools', () => {
  let server: MongoTestServer;
  let url: string;
  let client: MongoClient;
  const raw = async (db: string, name: string) => (await client.db(db).collection(name).find({}, { raw: true }).toArray()).map((d) => Buffer.from(d as unknown as Buffer));

  beforeAll(async () => {
    server = new MongoTestServer();
    url = await server.start();
    client = await MongoClient.connect(url);
  });
  afterAll(async () => {
    await client.close();
    await server.stop();
  });

  it('reads what the real mongodump --archive writes (collections dumped in parallel), every CRC-64 matching', async () => {
    const db = client.db('source');
    await db.collection('recipes').insertMany(Array.from({ length: 300 }, (_, i) => ({ title: `r${i}`, tags: ['a', 'é'], n: new Long(i) })));
    await db.collection('recipes').createIndex({ title: 1 }, { name: 'title_1', unique: true });
    await db.collection('categories').insertMany([{ name: 'desserts' }, { name: 'plats' }]);
    await db.createCollection('empty');
    await db.createCollection('recent', { viewOn: 'recipes', pipeline: [] });

    const dump = tool('mongodump', [`--uri=${url}`, '--db=source', '--archive', '--numParallelCollections=4']);
    const seen: Record<string, { documents: Buffer[]; metadata: string; type: string; ended?: number }> = {};
    for await (const event of readMongoArchive(dump.stdout, 'mongodump\'s stream')) {
      if (event.kind === 'prelude') {
        expect(event.header.toolVersion).toBe('100.11.0');
        for (const c of event.collections) seen[c.collection] = { documents: [], metadata: c.metadata, type: c.type };
      } else if (event.kind === 'document') seen[event.collection.collection]?.documents.push(Buffer.from(event.bytes));
      else (seen[event.collection.collection] as { ended?: number }).ended = event.documents;
    }
    const result = await dump.done;
    expect(result.code, result.stderr).toBe(0);
    expect(Object.keys(seen).sort()).toEqual(['categories', 'empty', 'recent', 'recipes']);
    for (const name of ['recipes', 'categories', 'empty']) {
      expect(seen[name]?.documents, name).toEqual(await raw('source', name));
      expect(seen[name]?.ended).toBe(seen[name]?.documents.length);
    }
    expect(seen.recent?.type).toBe('view');
    expect(seen.recent?.documents).toEqual([]);
    expect(parseMetadata(seen.recipes?.metadata ?? '', 'recipes', 'recipes').indexes.map((i) => [i.name, i.unique ?? false])).toEqual([['_id_', false], ['title_1', true]]);
  });

  it('writes a stream the real mongorestore --archive restores, byte for byte, with the indexes', async () => {
    const documents = [
      { _id: new ObjectId('65a000000000000000000001'), n: new Int32(1), l: new Long(2), d: new Double(3), dec: Decimal128.fromString('4.50'), bin: new Binary(Buffer.from([0, 1, 2]), 4), ts: new Timestamp({ t: 1, i: 2 }), at: new Date(0), nested: { list: [1, 'deux', null] }, old: new BSONSymbol('deprecated') },
      { _id: 'deux', text: 'œuf à la coque' },
    ].map((d) => Buffer.from(BSON.serialize(d)));
    const metadata = renderMetadata({ indexes: [{ v: new Int32(2), key: { _id: new Int32(1) }, name: '_id_' }, { v: new Int32(2), key: { text: new Int32(1) }, name: 'text_1', sparse: true }], collectionName: 'dishes__ferry_new' });
    const archive = writeMongoArchive({ serverVersion: '7.0.0', toolVersion: 'ferry test' }, [
      { db: 'target', collection: 'dishes__ferry_new', metadata, type: 'collection', documents: Readable.from(documents) },
      { db: 'target', collection: 'nothing__ferry_new', metadata: renderMetadata({ indexes: [], collectionName: 'nothing__ferry_new' }), type: 'collection', documents: Readable.from([]) },
    ]);
    const restore = tool('mongorestore', [`--uri=${url}`, '--archive', '--maintainInsertionOrder'], Readable.from(archive));
    const result = await restore.done;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('2 document(s) restored successfully. 0 document(s) failed to restore.');
    expect(await raw('target', 'dishes__ferry_new')).toEqual(documents);
    expect((await client.db('target').collection('dishes__ferry_new').listIndexes().toArray()).map((i) => [i.name, i.sparse ?? false])).toEqual([['_id_', false], ['text_1', true]]);
    const listed = await client.db('target').listCollections().toArray();
    expect(listed.map((c) => c.name).sort()).toEqual(['dishes__ferry_new', 'nothing__ferry_new']);
    // mongorestore creates each collection with an idIndex naming its namespace; mongod keeps it out of the options (so does the test server).
    expect(listed.map((c) => (c as { options?: unknown }).options)).toEqual([{}, {}]);
  });
});
