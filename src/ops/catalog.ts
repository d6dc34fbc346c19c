import { lstat, realpath, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CHECKSUM_SUFFIX, DigestStream, isLatestName, MANIFEST_SUFFIX, parseManifest, sha256OfChecksumLine, VERIFY_SUFFIX, type Manifest } from '../archive/index.js';
import { FerryError, interrupted } from '../errors/index.js';
import type { OperationContext } from './context.js';
import { LocalRepository, type BackupSummary, type Repository } from '../repository/index.js';
import { mapConcurrently } from '../util/concurrency.js';

export { legacyManifest, manifestOf } from '../archive/index.js';
export { mapConcurrently };
export type { BackupSummary };

/** A backup with its sidecars read. */
export interface BackupDetails extends BackupSummary {
  /** The manifest from the sidecar, when there is one. */
  manifest: Manifest | undefined;
  /** The outcome of the last `ferry verify`, when there was one. */
  verification: VerificationRecord | undefined;
}

export interface VerificationRecord {
  checkedAt: string;
  ok: boolean;
  /** The archive was made by the old scripts: readable, with no checksums to compare. */
  oldScripts?: boolean;
  /** Of such an archive: the stores it holds, as verify found them (it has no manifest to say). */
  stores?: string[];
}

/** The backups in a backup directory, newest first, from names and sizes only (archives are not opened). */
export function catalog(directory: string): Promise<{ backups: BackupSummary[]; foreign: string[] }> {
  return new LocalRepository(directory).catalog();
}

/**
 * A backup with its sidecars read. `entries: false` reads the manifest sidecar only up to its entry
 * list (which, for an uploads folder of thousands of files, is nearly all of it): enough for list.
 */
export async function withDetails(repository: Repository, backup: BackupSummary, options: { entries?: boolean } = {}): Promise<BackupDetails> {
  const manifest = backup.hasManifestSidecar ? await readManifestSidecar(repository, backup.name, options.entries !== false) : undefined;
  return { ...backup, manifest, verification: backup.hasVerifySidecar ? await lastVerification(repository, backup.name) : undefined };
}

/** The catalog with every backup's sidecars read, concurrently; manifests without their entry lists. */
export async function detailedCatalog(repository: Repository): Promise<{ backups: BackupDetails[]; foreign: string[] }> {
  const { backups, foreign } = await repository.catalog();
  return { backups: await mapConcurrently(backups, repository.parallelReads, (backup) => withDetails(repository, backup, { entries: false })), foreign };
}

/**
 * The manifest sidecar; without `entries`, its head only when that reaches the entry list (Ferry
 * writes `entries` last), else the whole sidecar.
 */
async function readManifestSidecar(repository: Repository, name: string, entries: boolean): Promise<Manifest | undefined> {
  const source = repository.pathOf(name + MANIFEST_SUFFIX);
  if (!entries) {
    const head = await repository.readSidecar(name, MANIFEST_SUFFIX, { start: 0, end: SIDECAR_HEAD_BYTES - 1 });
    if (head === undefined) return undefined;
    const manifest = manifestFromHead(head, source);
    if (manifest !== undefined) return manifest;
  }
  const whole = await repository.readSidecar(name, MANIFEST_SUFFIX);
  return whole === undefined ? undefined : parseManifest(whole.toString('utf8'), source);
}

/** How much of a manifest sidecar to read first: the head of one Ferry wrote fits. */
export const SIDECAR_HEAD_BYTES = 16 * 1024;

const ENTRIES_KEY = Buffer.from('\n  "entries": [');

/** The manifest from the start of a sidecar, when the start reaches the entry list; entries left empty. */
export function manifestFromHead(start: Buffer, source: string): Manifest | undefined {
  const at = start.indexOf(ENTRIES_KEY);
  if (at < 0) return undefined;
  try {
    return parseManifest(`${start.subarray(0, at).toString('utf8')}\n  "entries": []\n}`, source);
  } catch {
    return undefined;
  }
}

/** Resolves "latest", a file name in the backup directory, or a path. */
export async function locateArchive(reference: string, directory: string): Promise<string> {
  if (reference === 'latest') {
    const { backups } = await catalog(directory);
    const newest = backups[0];
    if (newest === undefined) {
      throw new FerryError('ARCHIVE_NOT_FOUND', `no backup in ${directory}`, { hint: 'Run ferry backup first, or set BACKUP_DIRECTORY to where the archives are.' });
    }
    return newest.path;
  }
  const candidates = isAbsolute(reference) || reference.includes('/') ? [resolve(reference)] : [resolve(reference), join(directory, reference)];
  for (const candidate of candidates) {
    const stats = await stat(candidate).catch(() => undefined);
    if (!stats?.isFile()) continue;
    // Ferry's backup_latest link: the archive it names, so what is written beside it goes beside that archive.
    if (isLatestName(basename(candidate)) && (await lstat(candidate)).isSymbolicLink()) return realpath(candidate);
    return candidate;
  }
  throw new FerryError('ARCHIVE_NOT_FOUND', `archive ${reference} not found (looked in ${[...new Set(candidates)].join(' and ')})`, {
    hint: 'Run ferry list to see the backups there are, or give the archive path.',
  });
}

/** The sha256 a backup's .sha256 sidecar records, or undefined when it has none. */
export async function recordedSha256(repository: Repository, name: string): Promise<string | undefined> {
  const text = await repository.readSidecar(name, CHECKSUM_SUFFIX);
  return text === undefined ? undefined : sha256OfChecksumLine(text.toString('utf8'), repository.pathOf(name + CHECKSUM_SUFFIX));
}

/** The sha256 of a backup's archive as it is read now, or why it could not be read to its end. */
export async function sha256Of(ctx: OperationContext, repository: Repository, name: string): Promise<{ sha256: string; size: number } | { error: string; size: number }> {
  const digest = new DigestStream();
  try {
    await pipeline(await repository.readArchive(name), digest, new Writable({ write: (_chunk, _encoding, done) => done() }), { signal: ctx.signal });
  } catch (error) {
    if (ctx.signal.aborted) throw interrupted();
    return { error: (error as Error).message, size: digest.size };
  }
  return digest.digest();
}

/** The outcome of the last verify of a backup, when there was one. */
export async function lastVerification(repository: Repository, name: string): Promise<VerificationRecord | undefined> {
  return parseVerification((await repository.readSidecar(name, VERIFY_SUFFIX))?.toString('utf8'));
}

export function parseVerification(text: string | undefined): VerificationRecord | undefined {
  if (text === undefined) return undefined;
  try {
    const parsed = JSON.parse(text) as Partial<VerificationRecord>;
    if (typeof parsed.checkedAt !== 'string' || typeof parsed.ok !== 'boolean') return undefined;
    const stores = Array.isArray(parsed.stores) && parsed.stores.every((s) => typeof s === 'string') ? parsed.stores : undefined;
    return { checkedAt: parsed.checkedAt, ok: parsed.ok, ...(parsed.oldScripts === true ? { oldScripts: true } : {}), ...(stores === undefined ? {} : { stores }) };
  } catch {
    return undefined;
  }
}

/** An archive file as the backup of that name in the directory that holds it (which need not be the backup directory). */
export function localBackupAt(archivePath: string): { repository: LocalRepository; name: string } {
  return { repository: new LocalRepository(dirname(archivePath)), name: basename(archivePath) };
}
