import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, lutimes, mkdir, rename, rm, stat, symlink, utimes } from 'node:fs/promises';
import { basename, dirname, join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ArchiveEntryHeader } from '../../archive/index.js';
import { FerryError } from '../../errors/index.js';
import type { Logger } from '../store.js';

/**
 * A restored folder is built beside its target and swapped in only when complete, so a failed or
 * interrupted restore leaves the old folder as it was.
 */
export class FolderStaging {
  private readonly directoryTimes: Array<{ path: string; mode: number; mtime: Date }> = [];
  private readonly links = new Set<string>();
  private rootAttributes: { mode: number; mtime: Date } | undefined;

  private constructor(private readonly target: string, private readonly staging: string) {}

  static async create(target: string): Promise<FolderStaging> {
    const staging = join(dirname(target), `.${basename(target)}.ferry-restore-${randomBytes(4).toString('hex')}`);
    await mkdir(dirname(target), { recursive: true });
    await mkdir(staging, { mode: 0o700 });
    return new FolderStaging(target, staging);
  }

  async accept(header: ArchiveEntryHeader, relativePath: string, data: Readable): Promise<void> {
    const rel = safeRelative(relativePath);
    if (rel === '') {
      this.rootAttributes = { mode: header.mode, mtime: header.mtime };
      data.resume();
      return;
    }
    // Never write through a link that the archive itself created.
    for (let parent = posix.dirname(rel); parent !== '.'; parent = posix.dirname(parent)) {
      if (this.links.has(parent)) throw unsafe(relativePath);
    }
    const path = join(this.staging, rel);
    await mkdir(dirname(path), { recursive: true });
    if (header.type === 'directory') {
      await mkdir(path, { recursive: true });
      this.directoryTimes.push({ path, mode: header.mode, mtime: header.mtime });
      data.resume();
    } else if (header.type === 'symlink') {
      await symlink(header.linkTarget ?? '', path);
      this.links.add(rel);
      await lutimes(path, header.mtime, header.mtime).catch(() => undefined);
      data.resume();
    } else if (header.type === 'file') {
      await pipeline(data, createWriteStream(path, { flags: 'wx', mode: header.mode & 0o7777 }));
      await chmod(path, header.mode & 0o7777);
      await utimes(path, header.mtime, header.mtime);
    } else {
      data.resume();
    }
  }

  /** Applies folder modes and times last, deepest first, since writing files changes them. */
  async finish(): Promise<void> {
    for (const dir of [...this.directoryTimes].reverse()) {
      await chmod(dir.path, dir.mode & 0o7777);
      await utimes(dir.path, dir.mtime, dir.mtime);
    }
    if (this.rootAttributes !== undefined) {
      await chmod(this.staging, this.rootAttributes.mode & 0o7777);
      await utimes(this.staging, this.rootAttributes.mtime, this.rootAttributes.mtime);
    }
  }

  async swapIn(log: Logger): Promise<void> {
    const exists = await stat(this.target).then(() => true, () => false);
    if (!exists) {
      await rename(this.staging, this.target);
      return;
    }
    const old = join(dirname(this.target), `.${basename(this.target)}.ferry-old-${randomBytes(4).toString('hex')}`);
    await rename(this.target, old);
    try {
      await rename(this.staging, this.target);
    } catch (cause) {
      await rename(old, this.target);
      throw new FerryError('UPLOADS_SWAP_FAILED', `cannot move the restored uploads into ${this.target}`, {
        hint: 'The previous uploads folder was put back unchanged; check permissions on its parent folder.',
        cause,
      });
    }
    try {
      await rm(old, { recursive: true, force: true });
    } catch {
      log.warn(`the previous uploads folder was kept at ${old}; remove it by hand`);
    }
  }

  async discard(): Promise<void> {
    await rm(this.staging, { recursive: true, force: true });
  }
}

function safeRelative(path: string): string {
  const normalised = posix.normalize(path.replace(/\/+$/, ''));
  if (normalised === '.' || normalised === '') return '';
  if (posix.isAbsolute(normalised) || normalised === '..' || normalised.startsWith('../')) throw unsafe(path);
  return normalised;
}

function unsafe(path: string): FerryError {
  return new FerryError('ARCHIVE_CORRUPT', `archive entry uploads/${path} would be written outside the uploads folder`, {
    hint: 'The archive was tampered with; do not restore it.',
  });
}
