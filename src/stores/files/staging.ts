import { closeSync, fchmodSync, futimesSync, openSync, writeSync } from 'node:fs';
import { chmod, link, lstat, lutimes, mkdir, open, rm, symlink, unlink, utimes, type FileHandle } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import type { ArchiveEntryHeader } from '../../archive/index.js';
import { FerryError } from '../../errors/index.js';
import { workPath, type FolderLayout } from './layout.js';
import { targetError } from './target-error.js';
import { restoreDirectoryAttributes } from './tree.js';

export interface BuildCounts {
  /** Files taken from the current folder by hard link: same bytes, mode and time as the archive's. */
  linked: number;
  written: number;
  bytesWritten: number;
}

/**
 * Builds the restored folder beside its target (inside it, for a mount point), so a failed or
 * interrupted restore leaves the target as it was. A file the target already holds with the
 * archive's size, time and mode is hard-linked from it once its bytes have been compared with the
 * entry's as the entry streams by — the entry is still read whole and checked against its sha256
 * by the archive reader; only the write is saved.
 */
export class FolderStaging {
  readonly counts: BuildCounts = { linked: 0, written: 0, bytesWritten: 0 };
  private readonly directories: Array<{ path: string; mode: number; mtime: Date }> = [];
  private readonly links = new Set<string>();
  /** Folders of the current target known to be real folders, not links out of it. */
  private readonly realFolders = new Set<string>(['.']);
  /** Folders already made in the staged tree. */
  private readonly made = new Set<string>();
  private rootAttributes: { mode: number; mtime: Date } | undefined;

  private constructor(private readonly layout: FolderLayout, readonly path: string, private readonly reuse: boolean) {}

  static async create(layout: FolderLayout): Promise<FolderStaging> {
    const path = workPath(layout, 'restore');
    try {
      await mkdir(layout.workParent, { recursive: true });
      await mkdir(path, { mode: 0o700 });
    } catch (cause) {
      throw targetError(cause, layout);
    }
    const reuse = await lstat(layout.target).then((s) => s.isDirectory(), () => false);
    return new FolderStaging(layout, path, reuse);
  }

  async accept(header: ArchiveEntryHeader, relativePath: string, data: Readable): Promise<void> {
    try {
      await this.place(header, relativePath, data);
    } catch (cause) {
      throw targetError(cause, this.layout);
    }
  }

  private async place(header: ArchiveEntryHeader, relativePath: string, data: Readable): Promise<void> {
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
    const path = join(this.path, rel);
    await this.makeFolder(dirname(path));
    if (header.type === 'directory') {
      await this.makeFolder(path);
      this.directories.push({ path, mode: header.mode, mtime: header.mtime });
      data.resume();
    } else if (header.type === 'symlink') {
      await symlink(header.linkTarget ?? '', path);
      this.links.add(rel);
      await lutimes(path, header.mtime, header.mtime).catch(() => undefined);
      data.resume();
    } else if (header.type === 'file') {
      const current = await this.reusable(rel, header);
      if (current !== undefined && (await linkIfSame(current, path, data))) {
        this.counts.linked++;
        return;
      }
      // linkIfSame has written it when it was linked and then differed.
      if (data.readableEnded) {
        await chmod(path, header.mode & 0o7777);
        await utimes(path, header.mtime, header.mtime);
      } else {
        await writeEntry(data, path, header);
      }
      this.counts.written++;
      this.counts.bytesWritten += header.size;
    } else {
      data.resume();
    }
  }

  private async makeFolder(path: string): Promise<void> {
    if (this.made.has(path)) return;
    await mkdir(path, { recursive: true });
    this.made.add(path);
  }

  /** The current file at the same place, when it looks the same as the entry (bytes still to compare). */
  private async reusable(rel: string, header: ArchiveEntryHeader): Promise<string | undefined> {
    if (!this.reuse || header.size === 0) return undefined;
    if (!(await this.insideTarget(posix.dirname(rel)))) return undefined;
    const path = join(this.layout.target, rel);
    const stats = await lstat(path).catch(() => undefined);
    if (stats === undefined || !stats.isFile()) return undefined;
    const sameTime = Math.floor(stats.mtimeMs / 1000) === Math.floor(header.mtime.getTime() / 1000);
    const sameMode = (stats.mode & 0o7777) === (header.mode & 0o7777);
    return stats.size === header.size && sameTime && sameMode ? path : undefined;
  }

  /** Whether a folder of the target is a real folder all the way up: a link would lead out of the tree. */
  private async insideTarget(folder: string): Promise<boolean> {
    if (this.realFolders.has(folder)) return true;
    if (!(await this.insideTarget(posix.dirname(folder)))) return false;
    const stats = await lstat(join(this.layout.target, folder)).catch(() => undefined);
    if (stats === undefined || !stats.isDirectory()) return false;
    this.realFolders.add(folder);
    return true;
  }

  /** Applies folder modes and times last, deepest first, since writing files changes them. */
  async finish(): Promise<void> {
    try {
      await restoreDirectoryAttributes(this.directories);
      if (this.rootAttributes !== undefined) {
        await chmod(this.path, this.rootAttributes.mode & 0o7777);
        await utimes(this.path, this.rootAttributes.mtime, this.rootAttributes.mtime);
      }
    } catch (cause) {
      throw targetError(cause, this.layout);
    }
  }

  async discard(): Promise<void> {
    await rm(this.path, { recursive: true, force: true });
  }
}

/**
 * Hard-links `current` to `path`, then compares the entry's bytes with it as they stream by. When
 * they differ, the link is replaced by a file written from the part that matched and the rest of
 * the stream. Returns false (and has consumed nothing) when the link cannot be made, say across
 * filesystems.
 */
async function linkIfSame(current: string, path: string, data: Readable): Promise<boolean> {
  try {
    await link(current, path);
  } catch {
    return false;
  }
  const existing = await open(path, 'r');
  let out: FileHandle | undefined;
  let matched = 0;
  try {
    for await (const chunk of data as AsyncIterable<Buffer>) {
      await onPath(path, async () => {
        if (out === undefined) {
          if (await sameBytes(existing, chunk, matched)) {
            matched += chunk.length;
            return;
          }
          await unlink(path);
          out = await open(path, 'wx', 0o600);
          await copyPrefix(existing, out, matched);
        }
        await writeAll(out, chunk);
      });
    }
    // The file grew since it was looked at: the archive's bytes are the part that matched.
    if (out === undefined && (await existing.stat()).size !== matched) {
      await onPath(path, async () => {
        await unlink(path);
        out = await open(path, 'wx', 0o600);
        await copyPrefix(existing, out, matched);
      });
    }
  } finally {
    await existing.close();
    await out?.close();
  }
  return out === undefined;
}

/**
 * Writes an entry to a new file with its mode and time. The calls are synchronous: an uploads folder
 * is many files of a few hundred KB, and a thread-pool round trip for each open, write, chmod, utimes
 * and close cost more CPU than the writes themselves (cp and tar write the same way). A failure of
 * the file (not of the archive's stream) names its path.
 */
async function writeEntry(data: Readable, path: string, header: ArchiveEntryHeader): Promise<void> {
  const fd = onPathSync(path, () => openSync(path, 'wx', 0o600));
  try {
    for await (const chunk of data as AsyncIterable<Buffer>) {
      onPathSync(path, () => {
        for (let written = 0; written < chunk.length;) written += writeSync(fd, chunk, written, chunk.length - written);
      });
    }
    onPathSync(path, () => {
      fchmodSync(fd, header.mode & 0o7777);
      futimesSync(fd, header.mtime, header.mtime);
    });
  } catch (cause) {
    closeSync(fd);
    throw cause;
  }
  // Some filesystems (NFS) report a failed write only when the file is closed.
  onPathSync(path, () => closeSync(fd));
}

function onPathSync<T>(path: string, work: () => T): T {
  try {
    return work();
  } catch (cause) {
    throw withPath(cause, path);
  }
}

/** Calls on a file handle fail without the path; the target's error mapping needs it. */
async function onPath(path: string, work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (cause) {
    throw withPath(cause, path);
  }
}

function withPath(cause: unknown, path: string): unknown {
  const error = cause as NodeJS.ErrnoException;
  if (error instanceof Error && error.syscall !== undefined && error.path === undefined) error.path = path;
  return cause;
}

async function sameBytes(file: FileHandle, chunk: Buffer, position: number): Promise<boolean> {
  const buffer = Buffer.allocUnsafe(chunk.length);
  let filled = 0;
  while (filled < chunk.length) {
    const { bytesRead } = await file.read(buffer, filled, chunk.length - filled, position + filled);
    if (bytesRead === 0) return false;
    filled += bytesRead;
  }
  return buffer.equals(chunk);
}

async function copyPrefix(from: FileHandle, to: FileHandle, length: number): Promise<void> {
  const buffer = Buffer.allocUnsafe(256 * 1024);
  for (let done = 0; done < length;) {
    const { bytesRead } = await from.read(buffer, 0, Math.min(buffer.length, length - done), done);
    if (bytesRead === 0) break;
    await writeAll(to, buffer.subarray(0, bytesRead));
    done += bytesRead;
  }
}

async function writeAll(file: FileHandle, chunk: Buffer): Promise<void> {
  for (let written = 0; written < chunk.length;) {
    written += (await file.write(chunk, written, chunk.length - written)).bytesWritten;
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
