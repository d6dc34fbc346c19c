import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gunzipSync, inflateRawSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { GzipMembers, looksCompressed } from '../../src/archive/gzip-members.js';

const work = mkdtempSync(join(tmpdir(), 'ferry-gzip-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function text(bytes: number): Buffer {
  const words = ['farine', 'beurre', 'sucre', 'mélanger', 'cuire', 'doucement', 'four', 'servir'];
  let out = '';
  for (let i = 0; out.length < bytes; i++) out += `${words[(i * 7) % words.length]} ${i % 97}\n`;
  return Buffer.from(out.slice(0, bytes));
}

interface Piece { data: Buffer; stored: boolean }

/** Writes the pieces in chunks of `chunkBytes`, switching the level before each piece, as ArchiveWriter does. */
async function compress(pieces: Piece[], options: { blockBytes: number; parallel: number; chunkBytes: number }): Promise<Buffer> {
  const gzip = new GzipMembers(6, { blockBytes: options.blockBytes, parallel: options.parallel });
  const out: Buffer[] = [];
  async function* chunks(): AsyncGenerator<Buffer> {
    for (const piece of pieces) {
      gzip.useStored(piece.stored);
      for (let i = 0; i < piece.data.length; i += options.chunkBytes) yield piece.data.subarray(i, i + options.chunkBytes);
    }
  }
  await pipeline(Readable.from(chunks()), gzip, new Writable({ write(chunk: Buffer, _e, cb) { out.push(chunk); cb(); } }));
  return Buffer.concat(out);
}

/** Walks the members: a 10-byte header (zlib writes no optional fields), a deflate stream, an 8-byte trailer. */
function memberCount(gz: Buffer): number {
  let count = 0;
  let rest = gz;
  while (rest.length > 0) {
    expect([...rest.subarray(0, 4)]).toEqual([0x1f, 0x8b, 8, 0]);
    const { engine } = inflateRawSync(rest.subarray(10), { info: true }) as unknown as { engine: { bytesWritten: number } };
    rest = rest.subarray(10 + engine.bytesWritten + 8);
    count++;
  }
  return count;
}

describe('multi-member gzip (GzipMembers)', () => {
  it('round-trips mixed data in order, with several members compressed at once, and real gzip reads it', async () => {
    const random = randomBytes(300_000);
    const pieces: Piece[] = [
      { data: text(250_000), stored: false },
      { data: random, stored: true },
      { data: text(100_001), stored: false },
      { data: Buffer.alloc(0), stored: true },
      { data: text(77), stored: false },
    ];
    const whole = Buffer.concat(pieces.map((p) => p.data));
    for (const parallel of [1, 2, 4]) {
      for (const chunkBytes of [1, 4096, 65_536]) {
        if (chunkBytes === 1 && parallel !== 2) continue;
        const gz = await compress(pieces, { blockBytes: 64 * 1024, parallel, chunkBytes: chunkBytes === 1 ? 997 : chunkBytes });
        expect(gunzipSync(gz).equals(whole)).toBe(true);
        // Blocks of 64 KB, cut again where the level changes: at least 4 + 5 members for the first two pieces.
        expect(memberCount(gz)).toBeGreaterThanOrEqual(9);
      }
    }
    const gz = await compress(pieces, { blockBytes: 64 * 1024, parallel: 2, chunkBytes: 8192 });
    const file = join(work, 'mixed.gz');
    writeFileSync(file, gz);
    expect(execFileSync('gzip', ['-dc', file]).equals(whole)).toBe(true);
  });

  it('stores what is marked compressed and deflates the rest', async () => {
    const random = randomBytes(1_000_000);
    const stored = await compress([{ data: random, stored: true }], { blockBytes: 256 * 1024, parallel: 2, chunkBytes: 65_536 });
    // Stored blocks: 5 bytes per 64 KB block and 18 per member over the input, nothing saved.
    expect(stored.length).toBeGreaterThan(random.length);
    expect(stored.length).toBeLessThan(random.length + 1000);
    const prose = text(1_000_000);
    const deflated = await compress([{ data: prose, stored: false }], { blockBytes: 256 * 1024, parallel: 2, chunkBytes: 65_536 });
    expect(deflated.length).toBeLessThan(prose.length / 4);
  });

  it('makes a valid gzip file of no input at all', async () => {
    const gz = await compress([], { blockBytes: 1024, parallel: 2, chunkBytes: 1 });
    expect(gunzipSync(gz).length).toBe(0);
  });

  it('judges compressed data from its first 16 KB', () => {
    expect(looksCompressed(randomBytes(64 * 1024))).toBe(true);
    expect(looksCompressed(text(64 * 1024))).toBe(false);
    // Too little to judge: deflated, as before.
    expect(looksCompressed(randomBytes(1000))).toBe(false);
  });
});
