import { createHash } from 'node:crypto';
import { chmod, lstat, mkdir, readFile, readlink, readdir, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ferry } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';

interface Snapshot { type: string; mode: number; mtime: number; sha?: string; link?: string }

async function snapshot(root: string, rel = ''): Promise<Record<string, Snapshot>> {
  const out: Record<string, Snapshot> = {};
  for (const name of (await readdir(join(root, rel))).sort()) {
    const path = rel === '' ? name : `${rel}/${name}`;
    const s = await lstat(join(root, path));
    if (s.isSymbolicLink()) out[path] = { type: 'link', mode: 0, mtime: 0, link: await readlink(join(root, path)) };
    else if (s.isDirectory()) {
      out[path] = { type: 'dir', mode: s.mode & 0o7777, mtime: Math.floor(s.mtimeMs / 1000) };
      Object.assign(out, await snapshot(root, path));
    } else {
      out[path] = { type: 'file', mode: s.mode & 0o7777, mtime: Math.floor(s.mtimeMs / 1000), sha: createHash('sha256').update(await readFile(join(root, path))).digest('hex') };
    }
  }
  return out;
}

async function awkwardUploads(root: string): Promise<void> {
  await mkdir(join(root, 'images', 'deep', 'er'), { recursive: true });
  await mkdir(join(root, 'ocr'), { recursive: true });
  await writeFile(join(root, 'images', 'photo with spaces.jpg'), Buffer.alloc(3 * 1024 * 1024 + 17, 7));
  const big = Buffer.alloc(5 * 1024 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
  await writeFile(join(root, 'images', 'deep', 'er', 'gâteau-crème-brûlée-日本.png'), big);
  await writeFile(join(root, 'ocr', 'empty.txt'), '');
  await writeFile(join(root, 'ocr', `${'very-long-name-'.repeat(12)}.txt`), 'long name');
  await writeFile(join(root, 'ocr', 'script.sh'), '#!/bin/sh\necho hi\n');
  await chmod(join(root, 'ocr', 'script.sh'), 0o750);
  await writeFile(join(root, 'ocr', 'private.txt'), 'secret recipe');
  await chmod(join(root, 'ocr', 'private.txt'), 0o600);
  await symlink('images/photo with spaces.jpg', join(root, 'cover.jpg'));
  await symlink('/etc/hostname', join(root, 'outside-link'));
  await utimes(join(root, 'ocr', 'empty.txt'), new Date('2020-02-02T10:00:00Z'), new Date('2020-02-02T10:00:00Z'));
  // 0.4 ms before a whole second: Node's stats.mtime rounds it up to the next second, tar keeps seconds.
  await utimes(join(root, 'ocr', 'script.sh'), 1_700_000_000.9996, 1_700_000_000.9996);
  await chmod(join(root, 'images', 'deep'), 0o710);
  await utimes(join(root, 'images', 'deep'), new Date('2021-03-03T10:00:00Z'), new Date('2021-03-03T10:00:00Z'));
}

describe('uploads folder backup and restore', () => {
  it('keeps names, bytes, modes, times and links, and swaps the folder in whole', async () => {
    const work = await tempDir();
    const source = join(work, 'uploads');
    await awkwardUploads(source);
    const backups = join(work, 'backups');
    const made = await ferry(['backup'], { UPLOADS_DIR: source, BACKUP_DIRECTORY: backups });
    expect(made.code, made.stderr).toBe(0);

    const target = join(work, 'dev-uploads');
    await mkdir(target);
    await writeFile(join(target, 'stale.txt'), 'from an older restore');
    const restored = await ferry(['restore', 'latest', '--yes'], { UPLOADS_DIR: target, BACKUP_DIRECTORY: backups });
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stdout).toMatch(/uploads\s+files\s+6\s+6\s+ok/);
    expect(await snapshot(target)).toEqual(await snapshot(source));
    // The link is a link again, not a copy of what it pointed to.
    expect(await readlink(join(target, 'outside-link'))).toBe('/etc/hostname');
    // Only the previous folder is left beside the target, for undo.
    expect((await readdir(work)).sort()).toEqual(['backups', 'dev-uploads', 'dev-uploads.ferry-prev', 'uploads']);
    expect(await readFile(join(work, 'dev-uploads.ferry-prev', 'stale.txt'), 'utf8')).toBe('from an older restore');
  });

  it('leaves the target untouched when the archive turns out to be corrupt', async () => {
    const work = await tempDir();
    const source = join(work, 'uploads');
    await awkwardUploads(source);
    const backups = join(work, 'backups');
    expect((await ferry(['backup'], { UPLOADS_DIR: source, BACKUP_DIRECTORY: backups })).code).toBe(0);
    const archive = join(backups, (await readdir(backups)).find((n) => n.endsWith('.tar.gz'))!);
    const bytes = await readFile(archive);
    const middle = Math.floor(bytes.length / 2);
    bytes.writeUInt8(bytes.readUInt8(middle) ^ 0xff, middle);
    await writeFile(archive, bytes);

    const target = join(work, 'dev-uploads');
    await mkdir(target);
    await writeFile(join(target, 'keep.txt'), 'precious');
    const before = await snapshot(target);
    const restored = await ferry(['restore', 'latest', '--yes'], { UPLOADS_DIR: target, BACKUP_DIRECTORY: backups });
    expect(restored.code).toBe(2);
    expect(restored.stderr).toMatch(/^ferry: archive .* is damaged|does not match its checksum/m);
    expect(await snapshot(target)).toEqual(before);
    expect((await readdir(work)).sort()).toEqual(['backups', 'dev-uploads', 'uploads']);
    expect((await stat(target)).isDirectory()).toBe(true);
  });
});
