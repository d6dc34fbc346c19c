import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { FerryError } from '../errors/index.js';
import { LEGACY_FORMAT_VERSION, MANIFEST_ENTRY, parseManifest, type Manifest, type StoreManifest } from './manifest.js';
import { MANIFEST_SUFFIX, timeOfScriptArchiveName } from './naming.js';
import { readArchive, readSmallEntry, type ArchiveEntryHeader, type ReadArchiveOptions } from './reader.js';

async function readSidecarManifest(archivePath: string): Promise<Manifest | undefined> {
  let text: string;
  try {
    text = await readFile(archivePath + MANIFEST_SUFFIX, 'utf8');
  } catch {
    return undefined;
  }
  return parseManifest(text, archivePath + MANIFEST_SUFFIX);
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
