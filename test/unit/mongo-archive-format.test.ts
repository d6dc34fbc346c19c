import { BSON } from 'bson';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FerryError } from '../../src/errors/index.js';
import { Crc64 } from '../../src/stores/mongo/archive-format/crc64.js';
import { encodeNamespaceHeader, encodePrelude, TERMINATOR, type ArchiveCollection } from '../../src/stores/mongo/archive-format/format.js';
import { readMongoArchive } from '../../src/stores/mongo/archive-format/reader.js';
import { writeMongoArchive } from '../../src/stores/mongo/archive-format/writer.js';

const seed = Number(process.env.FERRY_PROPERTY_SEED ?? Date.now() % 2 ** 31);
console.log(`mongodump archive properties: fast-check seed ${seed} (replay with FERRY_PROPERTY_SEED=${seed})`);

const docs = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => Buffer.from(BSON.serialize({ _id: `${prefix}${i}`, text: 'é'.repeat(i % 7), n: i })));
const COLLECTIONS: Record<string, Buffer[]> = { recipes: docs('r', 20), empty: [], 'names.with.dots': docs('n', 3) };
const VERSIONS = { serverVersion: '7.0.0', toolVersion: 'ferry test' };

async function* from(buffer: Buffer, chunk = 4096): AsyncGenerator<Buffer> {
  for (let i = 0; i < buffer.length; i += chunk) yield buffer.subarray(i, i + chunk);
}

async function collect(generator: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of generator) parts.push(part);
  return Buffer.concat(parts);
}

async function written(): Promise<Buffer> {
  return collect(writeMongoArchive(VERSIONS, Object.entries(COLLECTIONS).map(([collection, documents]) => ({
    db: 'app', collection, metadata: `{"indexes":[],"collectionName":"${collection}"}`, type: 'collection', documents: from(Buffer.concat(documents), 1e9),
  }))));
}

/** What the reader gives, per collection: its documents and what its end said. */
async function read(source: AsyncIterable<Buffer>) {
  const out: Record<string, { documents: Buffer[]; ended?: number }> = {};
  let prelude: ArchiveCollection[] = [];
  for await (const event of readMongoArchive(source, 'the test stream')) {
    if (event.kind === 'prelude') {
      prelude = event.collections;
      for (const c of prelude) out[c.collection] = { documents: [] };
    } else if (event.kind === 'document') (out[event.collection.collection] as { documents: Buffer[] }).documents.push(Buffer.from(event.bytes));
    else (out[event.collection.collection] as { ended?: number }).ended = event.documents;
  }
  return { prelude, out };
}

async function failure(source: AsyncIterable<Buffer>): Promise<FerryError | undefined> {
  try {
    await read(source);
    return undefined;
  } catch (error) {
    if (!(error instanceof FerryError)) throw new Error(`not a FerryError: ${(error as Error).stack}`);
    return error;
  }
}

describe('mongodump archive format', () => {
  it('computes the CRC-64 Go\'s hash/crc64 gives with the ECMA table', () => {
    const crc = new Crc64();
    crc.update(Buffer.from('1234'));
    crc.update(Buffer.from('56789'));
    expect(BigInt.asUintN(64, crc.signed())).toBe(0x995dc9bbdf1939fan);
  });

  it('reads back what the writer wrote, in any chunking', async () => {
    const archive = await written();
    await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 700 }), async (chunk) => {
      const { prelude, out } = await read(from(archive, chunk));
      expect(prelude.map((c) => c.collection)).toEqual(Object.keys(COLLECTIONS));
      for (const [name, documents] of Object.entries(COLLECTIONS)) {
        expect(out[name]?.documents).toEqual(documents);
        expect(out[name]?.ended).toBe(documents.length);
      }
    }), { seed, numRuns: 30 });
  });

  it('follows collections interleaved block by block, as mongodump writes them in parallel', async () => {
    const [a, b] = [docs('a', 5), docs('b', 4)];
    const crcOf = (list: Buffer[]) => {
      const crc = new Crc64();
      for (const d of list) crc.update(d);
      return crc.signed();
    };
    const meta = (collection: string): ArchiveCollection => ({ db: 'app', collection, metadata: '', type: '' });
    const stream = Buffer.concat([
      encodePrelude({ formatVersion: '0.1', ...VERSIONS }, [meta('a'), meta('b')]),
      encodeNamespaceHeader('app', 'a', false, 0n), ...a.slice(0, 2), TERMINATOR,
      encodeNamespaceHeader('app', 'b', false, 0n), ...b.slice(0, 3), TERMINATOR,
      encodeNamespaceHeader('app', 'a', false, 0n), ...a.slice(2), TERMINATOR,
      encodeNamespaceHeader('app', 'a', true, crcOf(a)), TERMINATOR,
      encodeNamespaceHeader('app', 'b', false, 0n), ...b.slice(3), TERMINATOR,
      encodeNamespaceHeader('app', 'b', true, crcOf(b)), TERMINATOR,
    ]);
    const { out } = await read(from(stream, 13));
    expect(out.a).toEqual({ documents: a, ended: 5 });
    expect(out.b).toEqual({ documents: b, ended: 4 });
  });

  it('a changed byte inside a collection\'s documents fails its CRC-64 check, naming the collection', async () => {
    const archive = await written();
    const at = archive.indexOf(Buffer.from('r7\0'));
    const damaged = Buffer.from(archive);
    damaged[at] = 'R'.charCodeAt(0);
    const error = await failure(from(damaged));
    expect(error?.code).toBe('MONGO_ARCHIVE_CORRUPT');
    expect(error?.message).toMatch(/^the test stream: collection app\.recipes fails its CRC-64 check \(the archive says -?\d+, its 20 documents give -?\d+\)$/);
  });

  it('every cut-short stream is a typed error, never a hang or a crash', async () => {
    const archive = await written();
    for (let length = 0; length < archive.length; length++) {
      const error = await failure(from(archive.subarray(0, length), 97));
      expect(error?.code, `cut at ${length}`).toBe('MONGO_ARCHIVE_CORRUPT');
    }
  });

  it('random damage ends in success or a typed error; damage to the documents is always caught', async () => {
    const archive = await written();
    const documentsStart = archive.indexOf(encodeNamespaceHeader('app', 'recipes', false, 0n));
    await fc.assert(fc.asyncProperty(
      fc.array(fc.record({ at: fc.nat({ max: archive.length - 1 }), value: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 4 }),
      async (changes) => {
        const damaged = Buffer.from(archive);
        for (const { at, value } of changes) damaged[at] = value;
        await failure(from(damaged, 61));
      },
    ), { seed, numRuns: 300 });
    const recipesEnd = documentsStart + encodeNamespaceHeader('app', 'recipes', false, 0n).length + Buffer.concat(COLLECTIONS.recipes as Buffer[]).length;
    await fc.assert(fc.asyncProperty(
      fc.integer({ min: documentsStart + encodeNamespaceHeader('app', 'recipes', false, 0n).length, max: recipesEnd - 1 }),
      fc.integer({ min: 1, max: 255 }),
      async (at, flip) => {
        const damaged = Buffer.from(archive);
        damaged[at] = (damaged[at] as number) ^ flip;
        expect((await failure(from(damaged)))?.code).toBe('MONGO_ARCHIVE_CORRUPT');
      },
    ), { seed, numRuns: 200 });
  });

  it('refuses what is not an archive, blocks of unlisted collections and data after a collection ended', async () => {
    expect((await failure(from(Buffer.from(BSON.serialize({ a: 1 })))))?.message).toMatch(/at byte 0: it does not start with the magic number/);
    const meta: ArchiveCollection = { db: 'app', collection: 'a', metadata: '', type: '' };
    const prelude = encodePrelude({ formatVersion: '0.1', ...VERSIONS }, [meta]);
    const unlisted = Buffer.concat([prelude, encodeNamespaceHeader('app', 'b', false, 0n), TERMINATOR]);
    expect((await failure(from(unlisted)))?.message).toMatch(/a block for app\.b, which the prelude does not list$/);
    const [doc] = docs('x', 1) as [Buffer];
    const after = Buffer.concat([prelude, encodeNamespaceHeader('app', 'a', true, new Crc64().signed()), doc, TERMINATOR]);
    expect((await failure(from(after)))?.message).toMatch(/documents follow the end of app\.a$/);
    const twice = Buffer.concat([prelude, encodeNamespaceHeader('app', 'a', true, new Crc64().signed()), TERMINATOR, encodeNamespaceHeader('app', 'a', false, 0n), TERMINATOR]);
    expect((await failure(from(twice)))?.message).toMatch(/a block for app\.a after its end$/);
    expect((await failure(from(prelude)))?.message).toMatch(/the stream ends before the end of app\.a$/);
  });
});
