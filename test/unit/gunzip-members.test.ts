import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { crc32, createGunzip, deflateRawSync, gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { GunzipMembers } from '../../src/archive/gunzip-members.js';
import { GzipMembers } from '../../src/archive/gzip-members.js';

const work = mkdtempSync(join(tmpdir(), 'ferry-gunzip-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function text(bytes: number, seed = 0): Buffer {
  const words = ['farine', 'beurre', 'sucre', 'mélanger', 'cuire', 'doucement', 'four', 'servir'];
  let out = '';
  for (let i = seed; out.length < bytes; i++) out += `${words[(i * 7) % words.length]} ${i % 97}\n`;
  return Buffer.from(out.slice(0, bytes));
}

type Outcome = { ok: true; bytes: Buffer } | { ok: false; message: string };

/** Runs `input` through a gunzip, cut into chunks of the given sizes (cycled). */
async function run(gunzip: Transform, input: Buffer, chunkSizes: number[]): Promise<Outcome> {
  async function* chunks(): AsyncGenerator<Buffer> {
    for (let at = 0, i = 0; at < input.length; i++) {
      const size = chunkSizes[i % chunkSizes.length] as number;
      // Fresh copies: a reader must not depend on chunks sharing one buffer.
      yield Buffer.from(input.subarray(at, at + size));
      at += size;
    }
  }
  const out: Buffer[] = [];
  try {
    await pipeline(Readable.from(chunks()), gunzip, new Writable({ write(chunk: Buffer, _e, cb) { out.push(Buffer.from(chunk)); cb(); } }));
    return { ok: true, bytes: Buffer.concat(out) };
  } catch (error) {
    return { ok: false, message: (error as Error).message };
  }
}

/** Both readers on the same bytes and chunking: the same output, or the same error message. */
async function expectSameAsZlib(input: Buffer, chunkSizes: number[]): Promise<Outcome> {
  const ours = await run(new GunzipMembers(), input, chunkSizes);
  const zlibs = await run(createGunzip(), input, chunkSizes);
  if (zlibs.ok) {
    expect(ours.ok, ours.ok ? '' : ours.message).toBe(true);
    expect((ours as { bytes: Buffer }).bytes.equals(zlibs.bytes)).toBe(true);
  } else {
    expect(ours).toEqual({ ok: false, message: zlibs.message });
  }
  return ours;
}

async function ferryGzip(pieces: Array<{ data: Buffer; stored: boolean }>, blockBytes = 100_000): Promise<Buffer> {
  const gzip = new GzipMembers(6, { blockBytes, parallel: 2 });
  const out: Buffer[] = [];
  async function* chunks(): AsyncGenerator<Buffer> {
    for (const piece of pieces) {
      gzip.useStored(piece.stored);
      for (let i = 0; i < piece.data.length; i += 30_000) yield piece.data.subarray(i, i + 30_000);
    }
  }
  await pipeline(Readable.from(chunks()), gzip, new Writable({ write(chunk: Buffer, _e, cb) { out.push(chunk); cb(); } }));
  return Buffer.concat(out);
}

/** One member whose stored blocks are followed by compressed ones that refer back into them. */
function storedThenDeflated(): Buffer {
  // Deflate ends its first block after 16 K literals: random ones, so it stores them; the next block
  // repeats them, as matches that reach back into the stored block.
  const random = randomBytes(20_000);
  return gzipSync(Buffer.concat([random, random, text(30_000, 3)]), { level: 6 });
}

const CHUNKINGS = [[1 << 20], [7, 1, 13, 4093], [65_535, 5, 65_536, 3]];

describe('gunzip of stored and deflated members (GunzipMembers)', () => {
  it('reads what zlib reads, however the input is cut: Ferry\'s members, gzip\'s own files, stored blocks before deflated ones', async () => {
    const ferry = await ferryGzip([
      { data: text(150_000), stored: false },
      { data: randomBytes(250_000), stored: true },
      { data: Buffer.alloc(0), stored: true },
      { data: text(77, 5), stored: false },
      { data: randomBytes(70_000), stored: true },
    ]);
    const plain = join(work, 'recette.txt');
    writeFileSync(plain, text(90_000, 11));
    // The gzip command writes the file's name into the header (FNAME), which zlib's writer never does.
    execFileSync('gzip', ['-k', '-f', plain]);
    const named = readFileSync(`${plain}.gz`);
    expect(named[3]! & 0x08).toBe(0x08);
    const mixed = storedThenDeflated();
    expect((mixed[10]! >> 1) & 3).toBe(0);
    for (const input of [ferry, named, mixed, Buffer.concat([named, ferry, mixed])]) {
      for (const chunking of CHUNKINGS) {
        const result = await expectSameAsZlib(input, chunking);
        expect(result.ok).toBe(true);
      }
    }
    expect((await expectSameAsZlib(named, [1])).ok).toBe(true);
    // A chunk that ends exactly where the deflate stream does, before the trailer.
    expect((await expectSameAsZlib(named, [named.length - 8, 8])).ok).toBe(true);
  });

  it('checks what zlib checks and fails with its message: cut short anywhere, a changed byte, a bad header, trailing bytes', async () => {
    const input = await ferryGzip([
      { data: text(40_000), stored: false },
      { data: randomBytes(150_000), stored: true },
    ], 60_000);
    const storedAt = input.length - 20_000;
    const flipped = Buffer.from(input);
    flipped[storedAt] = (flipped[storedAt] as number) ^ 0x40;
    const badLength = Buffer.from(input);
    badLength[badLength.length - 2] = (badLength[badLength.length - 2] as number) ^ 1;
    const cases: Array<[string, Buffer, string | undefined]> = [
      ['empty', Buffer.alloc(0), 'unexpected end of file'],
      ['cut in a header', input.subarray(0, 5), 'unexpected end of file'],
      ['cut in the deflated part', input.subarray(0, 3_000), 'unexpected end of file'],
      ['cut in the stored part', input.subarray(0, storedAt), 'unexpected end of file'],
      ['cut in the trailer', input.subarray(0, input.length - 3), 'unexpected end of file'],
      ['a changed stored byte', flipped, 'incorrect data check'],
      ['a wrong length', badLength, 'incorrect length check'],
      ['not gzip', Buffer.from('backup_20240101_000000/\0\0\0 plain tar'), 'incorrect header check'],
      ['trailing garbage', Buffer.concat([input, Buffer.from('garbage')]), 'incorrect header check'],
      ['trailing zeros', Buffer.concat([input, Buffer.alloc(1024)]), undefined],
    ];
    for (const [name, bytes, message] of cases) {
      for (const chunking of [[1 << 20], [65_536], [4099, 3]]) {
        const result = await expectSameAsZlib(bytes, chunking);
        expect(result.ok ? undefined : result.message, name).toBe(message);
      }
    }
  });

  it('reads a header with every optional field, and refuses one whose header CRC is wrong', async () => {
    const body = deflateRawSync(text(5_000));
    const content = text(5_000);
    const trailer = Buffer.alloc(8);
    trailer.writeUInt32LE(crc32(content), 0);
    trailer.writeUInt32LE(content.length, 4);
    const start = Buffer.from([0x1f, 0x8b, 8, 0x02 | 0x04 | 0x08 | 0x10, 0, 0, 0, 0, 0, 3]);
    const extra = Buffer.from([4, 0, 0x41, 0x70, 0, 0]);
    const name = Buffer.from('recette.txt\0');
    const comment = Buffer.from('une note\0');
    const header = Buffer.concat([start, extra, name, comment]);
    const headerCrc = Buffer.alloc(2);
    headerCrc.writeUInt16LE(crc32(header) & 0xffff, 0);
    const good = Buffer.concat([header, headerCrc, body, trailer]);
    for (const chunking of [[1 << 20], [1], [11]]) {
      const result = await expectSameAsZlib(good, chunking);
      expect(result.ok && result.bytes.equals(content)).toBe(true);
    }
    const bad = Buffer.from(good);
    bad[header.length] = (bad[header.length] as number) ^ 1;
    expect(await expectSameAsZlib(bad, [1 << 20])).toEqual({ ok: false, message: 'header crc mismatch' });
  });
});
