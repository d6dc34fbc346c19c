import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import fc from 'fast-check';
import { pack as tarPack } from 'tar-stream';
import { afterAll, describe, expect, it } from 'vitest';
import { ArchiveWriter } from '../../src/archive/writer.js';
import { readArchive } from '../../src/archive/reader.js';
import { TarEntryOffsets } from '../../src/archive/tar-offsets.js';

const work = mkdtempSync(join(tmpdir(), 'ferry-seek-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function text(bytes: number, seed: number): Buffer {
  let out = '';
  for (let i = seed; out.length < bytes; i++) out += `INSERT ${i % 997} farine beurre ${(i * 31) % 1013}\n`;
  return Buffer.from(out.slice(0, bytes));
}

/** The names GNU tar lists in a tar stream, in order. */
function tarNames(tar: Buffer): string[] {
  return execFileSync('tar', ['-tf', '-'], { input: tar, encoding: 'utf8' }).split('\n').filter((line) => line !== '');
}

describe('seek points (manifest entries of large files in a gzip archive)', () => {
  it('lead a reader — Ferry\'s and real gzip with tar — straight to the entry, past pax headers and stored and deflated members', async () => {
    const archive = join(work, 'a.tar.gz');
    const writer = await ArchiveWriter.create(archive, { compressionLevel: 1 });
    const longName = `uploads/${'très-long-nom-'.repeat(12)}.jpg`;
    await writer.addBuffer('uploads/small.txt', Buffer.from('x'));
    await writer.addStream('uploads/tiny-first.txt', Readable.from([Buffer.from('y')]), 1, { seekPoint: true });
    await writer.addStream(longName, Readable.from([randomBytes(9_000_001)]), 9_000_001, { seekPoint: true });
    await writer.addDirectory('postgresql');
    const dump = text(11 * 1024 * 1024 + 17, 1);
    await writer.addStream('postgresql/database.backup', Readable.from([dump]), dump.length, { seekPoint: true });
    await writer.addBuffer('postgresql/database.sql', text(5 * 1024 * 1024, 7));
    await writer.addStream('postgresql/last.txt', Readable.from([Buffer.from('z')]), 1, { seekPoint: true });
    const entries = await writer.manifestEntries();
    await writer.finish();
    await writer.commit();

    const sought = entries.filter((entry) => entry.seek !== undefined);
    expect(sought.map((entry) => entry.path)).toEqual(['uploads/tiny-first.txt', longName, 'postgresql/database.backup', 'postgresql/last.txt']);
    const file = readFileSync(archive);
    for (const entry of sought) {
      const seek = entry.seek as { offset: number; skip: number };
      const seen: Array<{ path: string; sha256: string }> = [];
      await readArchive(archive, async (header, data) => {
        const hash = createHash('sha256');
        for await (const chunk of data as AsyncIterable<Buffer>) hash.update(chunk);
        seen.push({ path: header.path, sha256: hash.digest('hex') });
      }, { from: seek });
      expect(seen[0]).toEqual({ path: entry.path, sha256: entry.sha256 });

      const tail = join(work, 'tail.tar');
      writeFileSync(tail, execFileSync('gzip', ['-dc'], { input: file.subarray(seek.offset), maxBuffer: 256 * 1024 * 1024 }).subarray(seek.skip));
      expect(execFileSync('tar', ['-tf', tail], { encoding: 'utf8' }).split('\n')[0]).toBe(entry.path);
    }
  });

  it('are not written for zstd or encrypted archives, whose offsets mean nothing to a reader', async () => {
    const zstd = await ArchiveWriter.create(join(work, 'b.tar.zst'), { compressionLevel: 3, codec: 'zstd' });
    await zstd.addStream('postgresql/database.backup', Readable.from([text(100_000, 3)]), 100_000, { seekPoint: true });
    expect((await zstd.manifestEntries())[0]?.seek).toBeUndefined();
    await zstd.discard();
    const { generateIdentity, identityToRecipient } = await import('age-encryption');
    const recipient = await identityToRecipient(await generateIdentity());
    const encrypted = await ArchiveWriter.create(join(work, 'c.tar.gz.age'), { compressionLevel: 1, encryption: { recipients: [recipient] } });
    await encrypted.addStream('postgresql/database.backup', Readable.from([text(100_000, 3)]), 100_000, { seekPoint: true });
    expect((await encrypted.manifestEntries())[0]?.seek).toBeUndefined();
    await encrypted.discard();
  });

  it('TarEntryOffsets finds where each entry begins, so that GNU tar started there lists it first, however the stream is cut into chunks', async () => {
    await fc.assert(fc.asyncProperty(
      fc.array(fc.record({ name: fc.stringMatching(/^[a-zé/]{1,180}$/), size: fc.nat(3000), kind: fc.constantFrom('file', 'directory', 'symlink') }), { minLength: 1, maxLength: 8 }),
      fc.array(fc.integer({ min: 1, max: 1500 }), { minLength: 1, maxLength: 20 }),
      async (specs, cuts) => {
        const pack = tarPack();
        const collected: Buffer[] = [];
        const done = pipeline(pack, new Writable({ write(chunk: Buffer, _e, cb) { collected.push(chunk); cb(); } }));
        for (const [i, spec] of specs.entries()) {
          const name = `${i}-${spec.name.replace(/\/+$/, '') || 'x'}`;
          if (spec.kind === 'file') pack.entry({ name, size: spec.size }, Buffer.alloc(spec.size, 'a'));
          else if (spec.kind === 'directory') pack.entry({ name, type: 'directory' });
          else pack.entry({ name, type: 'symlink', linkname: 'target' });
        }
        pack.finalize();
        await done;
        const tar = Buffer.concat(collected);

        const offsets = new TarEntryOffsets();
        async function* chunks(): AsyncGenerator<Buffer> {
          let at = 0;
          for (let i = 0; at < tar.length; i++) {
            const size = cuts[i % cuts.length] as number;
            yield tar.subarray(at, at + size);
            at += size;
          }
        }
        await pipeline(Readable.from(chunks()), offsets, new Writable({ write(_c, _e, cb) { cb(); } }));
        const found = await Promise.all(specs.map((_spec, i) => offsets.startOf(i)));
        // GNU tar, started at each offset found, lists that entry first (its pax header included).
        const names = tarNames(tar);
        expect(names).toHaveLength(specs.length);
        for (const [i, start] of found.entries()) expect(tarNames(tar.subarray(start))[0]).toBe(names[i]);
        expect(await offsets.startOf(specs.length)).toBeUndefined();
      },
    ), { numRuns: 25 });
  });
});

