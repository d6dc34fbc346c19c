import { createHash } from 'node:crypto';
import { chainFileList, isLatestName, MANIFEST_ENTRY, MANIFEST_SUFFIX, parseManifest, readArchiveStream, readSmallEntry, type Manifest } from '../archive/index.js';
import { FerryError } from '../errors/index.js';
import type { Repository } from '../repository/index.js';
import type { ChainBase, Logger } from '../stores/index.js';

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
 * The newest complete backup in the repository of this uploads folder, to build a delta on: it has
 * both sidecars, is not encrypted (its sidecar lists no files), and its own chain is whole. When there
 * is none, `log` is told why the uploads go in full (a broken chain is worth knowing about).
 */
export async function findChainBase(repository: Repository, source: string, log: Pick<Logger, 'info'>): Promise<ChainBase | undefined> {
  const full = (why: string): undefined => {
    log.info(`uploads.incremental: ${why}; the uploads are written in full, starting a new chain`);
    return undefined;
  };
  const { backups } = await repository.catalog();
  for (const backup of backups) {
    if (!backup.hasChecksum || !backup.hasManifestSidecar) continue;
    const text = (await repository.readSidecar(backup.name, MANIFEST_SUFFIX))?.toString('utf8');
    if (text === undefined) continue;
    let manifest: Manifest;
    try {
      manifest = parseManifest(text, repository.pathOf(backup.name + MANIFEST_SUFFIX));
    } catch {
      continue;
    }
    const store = manifest.stores[CHAIN_STORE];
    if (store?.source !== source) continue;
    if (manifest.encryption !== undefined) return full(`the newest backup of ${source}, ${backup.name}, is encrypted and lists no files to compare with`);
    // A copy under the latest link's name is replaced by the next copy: nothing to build on.
    if (isLatestName(backup.name)) return full(`the newest backup of ${source} here is a copy under ${backup.name}`);
    const [problem] = await chainProblems(repository, backup.name, manifest);
    if (problem !== undefined) return full(`the chain of the newest backup is broken (${problem})`);
    return {
      name: backup.name,
      manifestSha256: sha256(text),
      position: store.chain?.kind === 'delta' ? store.chain.position : 0,
      entries: chainFileList(manifest, CHAIN_PREFIX),
    };
  }
  return full(`no earlier complete backup of ${source} in ${repository.where}`);
}

/**
 * The archives a delta needs, oldest (the full) first, the delta itself not included; each found in
 * the same repository under its name and with the manifest its successor recorded. Throws
 * CHAIN_LINK_MISSING naming the first that is not.
 */
export async function resolveChain(repository: Repository, name: string, manifest: Manifest): Promise<ChainLink[]> {
  if (baseOf(manifest) === undefined) return [];
  // A sidecar left behind is no archive: only what the listing shows as a backup counts.
  const present = new Set((await repository.catalog()).backups.map((b) => b.name));
  const links: ChainLink[] = [];
  const seen = new Set<string>([name]);
  let current = { name, manifest };
  for (let base = baseOf(current.manifest); base !== undefined; base = baseOf(current.manifest)) {
    const text = present.has(base.name) ? await manifestText(repository, base.name) : undefined;
    const problem = seen.has(base.name) ? 'names itself in a loop'
      : text === undefined ? 'is missing'
      : sha256(text) !== base.manifestSha256 ? 'is not the archive it was built on (its manifest differs)' : undefined;
    if (problem !== undefined || text === undefined) {
      const fetchBack = repository.location === 'local' ? 'ferry pull' : 'ferry push';
      throw new FerryError('CHAIN_LINK_MISSING', `archive ${base.name}, the base of ${current.name}, ${problem ?? 'is missing'}: ${name} cannot be restored`, {
        hint: `A delta holds only what changed since its base. Put ${base.name} back into ${repository.where} (${fetchBack}, or from another copy), or restore an older backup whose chain is whole (ferry list${repository.location === 'remote' ? ' --remote' : ''}).`,
      });
    }
    seen.add(base.name);
    const path = repository.pathOf(base.name);
    const parsed = parseManifest(text, path);
    links.unshift({ name: base.name, path, manifest: parsed });
    current = { name: base.name, manifest: parsed };
  }
  return links;
}

/** A backup's chain (none for a full), or the one sentence saying why it cannot be followed. */
export async function chainOrProblem(repository: Repository, name: string, manifest: Manifest): Promise<ChainLink[] | string> {
  try {
    return await resolveChain(repository, name, manifest);
  } catch (error) {
    if (error instanceof FerryError && error.code === 'CHAIN_LINK_MISSING') return error.message;
    throw error;
  }
}

/** What is wrong with a backup's chain, one sentence each (none for a full or a whole chain). */
export async function chainProblems(repository: Repository, name: string, manifest: Manifest): Promise<string[]> {
  const chain = await chainOrProblem(repository, name, manifest);
  return typeof chain === 'string' ? [chain] : [];
}

/** The manifest as written: the sidecar's text, or the manifest.json inside the archive. */
async function manifestText(repository: Repository, name: string): Promise<string | undefined> {
  const sidecar = await repository.readSidecar(name, MANIFEST_SUFFIX);
  if (sidecar !== undefined) return sidecar.toString('utf8');
  let inner: string | undefined;
  try {
    await readArchiveStream(await repository.readArchive(name), repository.pathOf(name), async (header, data) => {
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
