import type { Readable } from 'node:stream';

/** What a repository's listing alone says about a backup. `path` is where to find it: a file path or an s3:// URL. */
export interface BackupSummary {
  name: string;
  path: string;
  time: Date;
  size: number;
  hasChecksum: boolean;
  hasManifestSidecar: boolean;
  hasVerifySidecar: boolean;
}

/** Bytes `start` to `end`, both included (as an HTTP Range). */
export interface ByteRange {
  start: number;
  end: number;
}

export interface RepositoryLock {
  release(): Promise<void>;
}

/**
 * Where backups are kept: the few primitives list, retention, chains, health and verify need, so each
 * of them is written once for every backend (as restic's Backend). Names are archive names
 * (backup_….tar.gz); a sidecar is named by the archive's name and its suffix.
 */
export interface Repository {
  readonly location: 'local' | 'remote';
  /** The backup directory, or the s3:// URL of the prefix. */
  readonly where: string;
  /** How many reads to run at once when reading every backup's sidecars. */
  readonly parallelReads: number;
  /** Where a backup or a sidecar is, for messages: a path or an s3:// URL. */
  pathOf(name: string): string;
  /** The backups, newest first, and the names there that are not Ferry's, from a listing only. */
  catalog(): Promise<{ backups: BackupSummary[]; foreign: string[] }>;
  /** A sidecar's bytes (or a range of them); undefined when there is none. */
  readSidecar(name: string, suffix: string, range?: ByteRange): Promise<Buffer | undefined>;
  /** The archive's bytes (or a range of them) as a stream; ARCHIVE_NOT_FOUND when it is not there. */
  readArchive(name: string, range?: ByteRange): Promise<Readable>;
  writeSidecar(name: string, suffix: string, text: string): Promise<void>;
  /**
   * Removes a backup: the .sha256 sidecar first, then the archive, then the other sidecars, so an
   * interrupted removal leaves an incomplete backup, never one that looks whole.
   */
  remove(name: string): Promise<void>;
  /** Free space for new backups; undefined when the backend has no such notion. */
  freeBytes(): Promise<number | undefined>;
  /** Excludes other Ferry processes from changing the repository; undefined when the backend cannot. */
  lock(purpose: string): Promise<RepositoryLock | undefined>;
  close(): Promise<void>;
}

/** Reads a stream to its end into one buffer (for ranges and small objects). */
export async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
