import { createReadStream } from 'node:fs';
import { lstat, readdir, readFile, rm, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import {
  CHECKSUM_SUFFIX, isLatestName, isLatestSidecarName, manifestOf, MANIFEST_SUFFIX, PARTIAL_SUFFIX, sidecarNames, timeOfArchiveName, timeOfScriptArchiveName, VERIFY_SUFFIX, writeFileAtomic,
} from '../archive/index.js';
import { FerryError } from '../errors/index.js';
import { acquireLock } from '../ops/lock.js';
import { mapConcurrently } from '../util/concurrency.js';
import type { BackupSummary, ByteRange, Repository, RepositoryLock } from './repository.js';

/** The backup directory: Ferry's archives and sidecars beside the latest link, old scripts' archives and others' files. */
export class LocalRepository implements Repository {
  readonly location = 'local';
  readonly parallelReads = 32;

  constructor(readonly where: string) {}

  pathOf(name: string): string {
    return join(this.where, name);
  }

  async catalog(): Promise<{ backups: BackupSummary[]; foreign: string[] }> {
    const directory = this.where;
    let names: string[];
    try {
      names = await readdir(directory);
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return { backups: [], foreign: [] };
      throw new FerryError('BACKUP_DIR_UNWRITABLE', `cannot read backup directory ${directory}`, { hint: 'Check BACKUP_DIRECTORY and its permissions.', cause });
    }
    const present = new Set(names);
    const foreign: string[] = names.filter((name) => timeOfArchiveName(name) === undefined && !isOwnFile(name) && !isLatestName(name));
    const found = await mapConcurrently(names.filter((name) => timeOfArchiveName(name) !== undefined), 32, async (name): Promise<BackupSummary | string> => {
      const path = join(directory, name);
      // lstat: a link is never followed out of the backup directory, so it counts as foreign.
      const stats = await lstat(path).catch(() => undefined);
      if (stats === undefined || !stats.isFile()) return name;
      const hasChecksum = present.has(name + CHECKSUM_SUFFIX);
      const hasManifestSidecar = present.has(name + MANIFEST_SUFFIX);
      return {
        name,
        path,
        // Ferry writes both sidecars with every archive; one with neither is the old scripts' (local time).
        time: (hasChecksum || hasManifestSidecar ? timeOfArchiveName(name) : timeOfScriptArchiveName(name)) as Date,
        size: stats.size,
        hasChecksum,
        hasManifestSidecar,
        hasVerifySidecar: present.has(name + VERIFY_SUFFIX),
      };
    });
    const backups = found.filter((f): f is BackupSummary => typeof f !== 'string');
    foreign.push(...found.filter((f): f is string => typeof f === 'string'));
    for (const name of names.filter(isLatestName)) {
      const copy = await latestCopy(directory, name, present);
      if (typeof copy === 'string') foreign.push(copy);
      // A copy of a backup that is here under its own name (whole seconds) is that backup: counted once.
      else if (copy !== undefined && !backups.some((b) => Math.floor(b.time.getTime() / 1000) === Math.floor(copy.time.getTime() / 1000))) backups.push(copy);
    }
    backups.sort((a, b) => b.time.getTime() - a.time.getTime());
    return { backups, foreign: foreign.sort() };
  }

  async readSidecar(name: string, suffix: string, range?: ByteRange): Promise<Buffer | undefined> {
    const path = this.pathOf(name + suffix);
    if (range === undefined) return readFile(path).catch(() => undefined);
    try {
      const chunks: Buffer[] = [];
      for await (const chunk of createReadStream(path, range)) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    } catch {
      return undefined;
    }
  }

  async readArchive(name: string, range?: ByteRange): Promise<Readable> {
    const path = this.pathOf(name);
    const stream = createReadStream(path, { highWaterMark: 1024 * 1024, ...range });
    // Opened before returning, so a missing archive is an error here rather than mid-read.
    await new Promise<void>((resolve, reject) => {
      stream.once('open', () => resolve());
      stream.once('error', (error: NodeJS.ErrnoException) => reject(error.code === 'ENOENT'
        ? new FerryError('ARCHIVE_NOT_FOUND', `${path} does not exist`, { hint: 'Run ferry list to see the backups there are.' })
        : error));
    });
    return stream;
  }

  async writeSidecar(name: string, suffix: string, text: string): Promise<void> {
    await writeFileAtomic(this.pathOf(name + suffix), text);
  }

  async remove(name: string): Promise<void> {
    const [checksum, ...others] = sidecarNames(name) as [string, ...string[]];
    for (const file of [checksum, name, ...others]) {
      const path = this.pathOf(file);
      await rm(path, { force: true }).catch((cause: unknown) => {
        throw new FerryError('BACKUP_DIR_UNWRITABLE', `cannot remove ${path} (${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message})`, {
          hint: `Check the backup directory's permissions and mount, then run ferry prune again; until then ${name} is listed without its .sha256 sidecar, never as whole.`,
          cause,
        });
      });
    }
  }

  async freeBytes(): Promise<number> {
    const fs = await statfs(this.where).catch(() => undefined);
    return fs === undefined ? 0 : fs.bavail * fs.bsize;
  }

  lock(purpose: string): Promise<RepositoryLock> {
    return acquireLock(this.where, purpose);
  }

  async close(): Promise<void> {
    // Nothing is held open between calls.
  }
}

/**
 * backup_latest.tar.gz: Ferry's link to the newest archive names a backup already counted (undefined);
 * a regular file of that name is a copy (scp follows the link), dated by its manifest; the name when
 * it is neither.
 */
async function latestCopy(directory: string, name: string, present: Set<string>): Promise<BackupSummary | string | undefined> {
  const path = join(directory, name);
  const stats = await lstat(path).catch(() => undefined);
  if (stats === undefined || stats.isSymbolicLink()) return undefined;
  if (!stats.isFile()) return name;
  let created: Date;
  try {
    // The sidecar when it was copied too; else the archive itself (read once, to its manifest).
    created = new Date((await manifestOf(path)).createdAt);
  } catch {
    return name;
  }
  if (Number.isNaN(created.getTime())) return name;
  return {
    name,
    path,
    time: created,
    size: stats.size,
    hasChecksum: present.has(name + CHECKSUM_SUFFIX),
    hasManifestSidecar: present.has(name + MANIFEST_SUFFIX),
    hasVerifySidecar: present.has(name + VERIFY_SUFFIX),
  };
}

function isOwnFile(name: string): boolean {
  // The lock, temporary files, and what notifications already said (.ferry-notified.json, .ferry-anomaly-notified).
  if (name === '.ferry.lock' || name.startsWith('.ferry-tmp-') || name.startsWith('.ferry-notified') || name.startsWith('.ferry-anomaly-notified') || isLatestSidecarName(name)) return true;
  if (/^\.backup_latest\.tar\.(?:gz|zst).*\.tmp$/.test(name)) return true;
  for (const suffix of [CHECKSUM_SUFFIX, MANIFEST_SUFFIX, VERIFY_SUFFIX, PARTIAL_SUFFIX]) {
    if (name.endsWith(suffix) && timeOfArchiveName(name.slice(0, -suffix.length)) !== undefined) return true;
  }
  return /^\.backup_\d{8}_\d{6}\.tar\.(?:gz|zst)\..*\.tmp$/.test(name);
}
