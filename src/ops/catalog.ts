import { lstat, open, readdir, readFile, realpath, stat } from 'node:fs/promises';
import { basename, isAbsolute, join, resolve } from 'node:path';
import {
  LEGACY_FORMAT_VERSION, type ArchiveEntryHeader, type StoreManifest,
  CHECKSUM_SUFFIX, isLatestName, isLatestSidecarName, MANIFEST_ENTRY, MANIFEST_SUFFIX, PARTIAL_SUFFIX, VERIFY_SUFFIX, parseManifest, readArchive, readSmallEntry, sha256OfChecksumLine, timeOfArchiveName, timeOfScriptArchiveName,
  type Manifest, type ReadArchiveOptions,
} from '../archive/index.js';
import { FerryError } from '../errors/index.js';

/** What the directory listing alone says about a backup. */
export interface BackupSummary {
  name: string;
  path: string;
  time: Date;
  size: number;
  hasChecksum: boolean;
  hasManifestSidecar: boolean;
  hasVerifySidecar: boolean;
}

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

/** The backups in a directory, newest first, from names and sizes only (archives are not opened). */
export async function catalog(directory: string): Promise<{ backups: BackupSummary[]; foreign: string[] }> {
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

/**
 * A backup with its sidecars read. `entries: false` reads the manifest sidecar only up to its entry
 * list (which, for an uploads folder of thousands of files, is nearly all of it): enough for list.
 */
export async function withDetails(backup: BackupSummary, options: { entries?: boolean } = {}): Promise<BackupDetails> {
  const manifest = !backup.hasManifestSidecar ? undefined
    : options.entries === false ? await readSidecarHead(backup.path) : await readSidecarManifest(backup.path);
  return { ...backup, manifest, verification: backup.hasVerifySidecar ? await lastVerification(backup.path) : undefined };
}

/** The catalog with every backup's sidecars read, concurrently; manifests without their entry lists. */
export async function detailedCatalog(directory: string): Promise<{ backups: BackupDetails[]; foreign: string[] }> {
  const { backups, foreign } = await catalog(directory);
  return { backups: await mapConcurrently(backups, 32, (backup) => withDetails(backup, { entries: false })), foreign };
}

const ENTRIES_KEY = Buffer.from('\n  "entries": [');

/**
 * The manifest sidecar up to its entry list: Ferry writes `entries` last, so reading stops there.
 * Falls back to the whole file for sidecars written otherwise.
 */
async function readSidecarHead(archivePath: string): Promise<Manifest | undefined> {
  const path = archivePath + MANIFEST_SUFFIX;
  let head: Manifest | undefined;
  let complete = false;
  try {
    const handle = await open(path, 'r');
    try {
      const chunks: Buffer[] = [];
      let position = 0;
      for (;;) {
        const { bytesRead, buffer } = await handle.read(Buffer.alloc(SIDECAR_HEAD_BYTES), 0, SIDECAR_HEAD_BYTES, position);
        if (bytesRead === 0) break;
        chunks.push(buffer.subarray(0, bytesRead));
        position += bytesRead;
        head = manifestFromHead(Buffer.concat(chunks), path);
        if (head !== undefined) {
          complete = true;
          break;
        }
      }
    } finally {
      await handle.close();
    }
  } catch {
    return undefined;
  }
  return complete ? head : readSidecarManifest(archivePath);
}

/** How much of a manifest sidecar to read first: the head of one Ferry wrote fits. */
export const SIDECAR_HEAD_BYTES = 16 * 1024;

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

async function readSidecarManifest(archivePath: string): Promise<Manifest | undefined> {
  let text: string;
  try {
    text = await readFile(archivePath + MANIFEST_SUFFIX, 'utf8');
  } catch {
    return undefined;
  }
  return parseManifest(text, archivePath + MANIFEST_SUFFIX);
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

/**
 * The manifest of an archive: from its sidecar when present, otherwise read from the archive itself.
 * An archive without one (written by the old shell scripts) gets a manifest describing what it holds.
 */
export async function manifestOf(archivePath: string, signal?: AbortSignal, options: { sidecarOnly?: boolean; decrypt?: ReadArchiveOptions['decrypt'] } = {}): Promise<Manifest> {
  const sidecar = await readSidecarManifest(archivePath);
  if (sidecar !== undefined) return sidecar;
  if (options.sidecarOnly === true) throw new FerryError('ARCHIVE_ENTRY_MISSING', `${archivePath} has no manifest sidecar`, { hint: 'Run ferry verify on it.' });
  let manifest: Manifest | undefined;
  const seen: ArchiveEntryHeader[] = [];
  await readArchive(archivePath, async (header, data) => {
    if (header.path === MANIFEST_ENTRY) manifest = parseManifest((await readSmallEntry(data)).toString('utf8'), archivePath);
    else {
      seen.push(header);
      data.resume();
    }
  }, { ...(signal === undefined ? {} : { signal }), ...(options.decrypt === undefined ? {} : { decrypt: options.decrypt }) });
  return manifest ?? legacyManifest(archivePath, seen);
}

const LEGACY_STORES: Array<{ prefix: string; kind: string }> = [
  { prefix: 'postgresql/', kind: 'postgres' },
  { prefix: 'mongodb/', kind: 'mongo' },
  { prefix: 'uploads/', kind: 'uploads' },
];

/**
 * What an archive in the old scripts' layout holds; no checksums or counts to check against. A store
 * folder with no file in it (the scripts leave `mongodb/` and `uploads/` empty when there was
 * nothing) means nothing for that store.
 */
export function legacyManifest(archivePath: string, headers: ArchiveEntryHeader[]): Manifest {
  const normalised = headers.map((h) => ({ ...h, path: h.path.replace(/^\.\//, '') }));
  const stores: Record<string, StoreManifest> = {};
  for (const { prefix, kind } of LEGACY_STORES) {
    const inStore = normalised.filter((h) => h.path.startsWith(prefix));
    if (!inStore.some((h) => h.type !== 'directory')) continue;
    stores[kind] = {
      kind,
      source: `archive ${basename(archivePath)} (no manifest: written by the old backup scripts)`,
      counts: {},
      bytes: inStore.reduce((sum, h) => sum + h.size, 0),
      durationSeconds: 0,
      warnings: ['no manifest: entries have no checksums and no expected counts'],
    };
  }
  if (Object.keys(stores).length === 0) {
    throw new FerryError('ARCHIVE_ENTRY_MISSING', `archive ${basename(archivePath)} has no manifest.json and none of postgresql/, mongodb/, uploads/`, {
      hint: 'This is not a Ferry archive nor one written by the old backup scripts.',
    });
  }
  const oldest = normalised.reduce((min, h) => (h.mtime < min ? h.mtime : min), new Date());
  return {
    format: 'ferry-archive',
    formatVersion: LEGACY_FORMAT_VERSION,
    tool: { name: 'legacy backup scripts', version: 'unknown' },
    createdAt: (timeOfScriptArchiveName(basename(archivePath)) ?? oldest).toISOString(),
    host: 'unknown',
    durationSeconds: 0,
    stores,
    entries: normalised.map((h) => ({ path: h.path, type: h.type === 'other' ? 'file' : h.type, size: h.size })),
  };
}

/** The sha256 an archive's .sha256 sidecar records, or undefined when it has none. */
export async function recordedSha256(archivePath: string): Promise<string | undefined> {
  const text = await readFile(archivePath + CHECKSUM_SUFFIX, 'utf8').catch(() => undefined);
  return text === undefined ? undefined : sha256OfChecksumLine(text, archivePath + CHECKSUM_SUFFIX);
}

/** The outcome of the last verify of an archive, when there was one. */
export async function lastVerification(archive: string): Promise<VerificationRecord | undefined> {
  return parseVerification(await readFile(archive + VERIFY_SUFFIX, 'utf8').catch(() => undefined));
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

export async function mapConcurrently<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
