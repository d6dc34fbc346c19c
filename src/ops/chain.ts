import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { chainFileList, MANIFEST_ENTRY, MANIFEST_SUFFIX, parseManifest, readArchive, readSmallEntry, type Manifest } from '../archive/index.js';
import { FerryError } from '../errors/index.js';
import type { ChainBase } from '../stores/index.js';
import { catalog } from './catalog.js';

/** The only store that writes deltas, and where its entries live in an archive. */
export const CHAIN_STORE = 'uploads';
export const CHAIN_PREFIX = 'uploads/';

/** One archive of a chain, with the manifest it was checked against. */
export interface ChainLink {
  name: string;
  path: string;
  manifest: Manifest;
}

export function isDelta(manifest: Pick<Manifest, 'stores'>): boolean {
  return manifest.stores[CHAIN_STORE]?.chain?.kind === 'delta';
}

/** The backup a delta names as its base, when it is one. */
export function baseOf(manifest: Pick<Manifest, 'stores'>): { name: string; manifestSha256: string } | undefined {
  const chain = manifest.stores[CHAIN_STORE]?.chain;
  return chain?.kind === 'delta' ? chain.base : undefined;
}

/**
 * The newest complete backup in the directory of this uploads folder, to build a delta on: it has
 * both sidecars, is not encrypted (its sidecar lists no files), and its own chain is whole.
 */
export async function findChainBase(directory: string, source: string): Promise<ChainBase | undefined> {
  const { backups } = await catalog(directory);
  for (const backup of backups) {
    if (!backup.hasChecksum || !backup.hasManifestSidecar) continue;
    const text = await readFile(backup.path + MANIFEST_SUFFIX, 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    let manifest: Manifest;
    try {
      manifest = parseManifest(text, backup.path + MANIFEST_SUFFIX);
    } catch {
      continue;
    }
    const store = manifest.stores[CHAIN_STORE];
    if (store?.source !== source) continue;
    if (manifest.encryption !== undefined || backup.name !== basename(backup.path)) return undefined;
    if ((await chainProblems(backup.path, manifest)).length > 0) return undefined;
    return {
      name: backup.name,
      manifestSha256: sha256(text),
      position: store.chain?.kind === 'delta' ? store.chain.position : 0,
      entries: chainFileList(manifest, CHAIN_PREFIX),
    };
  }
  return undefined;
}

/**
 * The archives a delta needs, oldest (the full) first, the delta itself not included; each found
 * beside it under its name and with the manifest its successor recorded. Throws CHAIN_LINK_MISSING
 * naming the first that is not.
 */
export async function resolveChain(archivePath: string, manifest: Manifest): Promise<ChainLink[]> {
  const links: ChainLink[] = [];
  const seen = new Set<string>([basename(archivePath)]);
  let current = { name: basename(archivePath), manifest };
  for (let base = baseOf(current.manifest); base !== undefined; base = baseOf(current.manifest)) {
    const path = join(dirname(archivePath), base.name);
    const text = await manifestText(path);
    const problem = seen.has(base.name) ? 'names itself in a loop'
      : text === undefined ? 'is missing'
      : sha256(text) !== base.manifestSha256 ? 'is not the archive it was built on (its manifest differs)' : undefined;
    if (problem !== undefined || text === undefined) {
      throw new FerryError('CHAIN_LINK_MISSING', `archive ${base.name}, the base of ${current.name}, ${problem ?? 'is missing'}: ${basename(archivePath)} cannot be restored`, {
        hint: `A delta holds only what changed since its base. Put ${base.name} back into ${dirname(archivePath)} (ferry pull, or from another copy), or restore an older backup whose chain is whole (ferry list).`,
      });
    }
    seen.add(base.name);
    const parsed = parseManifest(text, path);
    links.unshift({ name: base.name, path, manifest: parsed });
    current = { name: base.name, manifest: parsed };
  }
  return links;
}

/** What is wrong with a backup's chain, one sentence each (none for a full or a whole chain). */
export async function chainProblems(archivePath: string, manifest: Manifest): Promise<string[]> {
  try {
    await resolveChain(archivePath, manifest);
    return [];
  } catch (error) {
    if (error instanceof FerryError && error.code === 'CHAIN_LINK_MISSING') return [error.message];
    throw error;
  }
}

/** The manifest as written: the sidecar's text, or the manifest.json inside the archive. */
async function manifestText(archivePath: string): Promise<string | undefined> {
  // A sidecar left behind is no archive.
  if (!(await stat(archivePath).then((s) => s.isFile(), () => false))) return undefined;
  const sidecar = await readFile(archivePath + MANIFEST_SUFFIX, 'utf8').catch(() => undefined);
  if (sidecar !== undefined) return sidecar;
  let inner: string | undefined;
  try {
    await readArchive(archivePath, async (header, data) => {
      if (header.path === MANIFEST_ENTRY) inner = (await readSmallEntry(data)).toString('utf8');
      else data.resume();
    });
  } catch {
    return undefined;
  }
  return inner;
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
