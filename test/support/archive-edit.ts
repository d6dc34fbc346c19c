import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Rewrites one entry of a Ferry archive and updates manifest.json to match, so the archive is
 * consistent by checksum but carries the given content (for corrupt-content tests). Removes the
 * sidecars, which would disagree.
 */
export function replaceEntry(archive: string, entry: string, content: Buffer): void {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-edit-'));
  try {
    execFileSync('tar', ['-xzf', archive, '-C', dir]);
    writeFileSync(join(dir, entry), content);
    const manifestPath = join(dir, 'manifest.json');
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { entries: Array<{ path: string; size: number; sha256?: string }> };
    const target = manifest.entries.find((e) => e.path === entry);
    if (target === undefined) throw new Error(`${entry} not in manifest`);
    target.size = statSync(join(dir, entry)).size;
    target.sha256 = createHash('sha256').update(content).digest('hex');
    writeFileSync(manifestPath, JSON.stringify(manifest, null, 2));
    const top = readdirSync(dir).filter((n) => n !== 'manifest.json');
    execFileSync('tar', ['-czf', archive, '-C', dir, ...top, 'manifest.json']);
    rmSync(`${archive}.manifest.json`, { force: true });
    rmSync(`${archive}.sha256`, { force: true });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Flips one bit of one byte of an entry, leaving manifest.json and the sidecars as they are: the
 * archive is still a readable tar.gz, but that entry no longer matches its checksum.
 */
export function flipByteInEntry(archive: string, entry: string, offset = 100): void {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-edit-'));
  try {
    execFileSync('tar', ['-xzf', archive, '-C', dir]);
    const bytes = readFileSync(join(dir, entry));
    bytes.writeUInt8(bytes.readUInt8(offset) ^ 0x20, offset);
    writeFileSync(join(dir, entry), bytes);
    const top = readdirSync(dir).filter((n) => n !== 'manifest.json');
    execFileSync('tar', ['-czf', archive, '-C', dir, ...top, 'manifest.json']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
