import { FerryError } from '../errors/index.js';
import { ManifestChecker } from './checker.js';
import { MANIFEST_ENTRY, parseManifest, type Manifest } from './manifest.js';
import { digestOf, readArchive, readSmallEntry, type ArchiveEntryHeader, type EntryDigest } from './reader.js';

export interface ChecksumReport {
  manifest: Manifest;
  entries: number;
  bytes: number;
}

/**
 * Reads a whole archive once and proves every entry matches the manifest stored inside it: sizes,
 * sha256, nothing missing, nothing extra. Throws the first problem as a FerryError.
 */
export async function checkArchiveChecksums(path: string, options: { signal?: AbortSignal; onCompressedBytes?: (n: number) => void } = {}): Promise<ChecksumReport> {
  const digests: Array<{ header: ArchiveEntryHeader; digest: EntryDigest }> = [];
  let manifest: Manifest | undefined;
  let bytes = 0;
  await readArchive(path, async (header, data) => {
    if (header.path === MANIFEST_ENTRY) {
      manifest = parseManifest((await readSmallEntry(data)).toString('utf8'), path);
      return;
    }
    const digest = await digestOf(data);
    bytes += digest.size;
    digests.push({ header, digest });
  }, options);
  if (manifest === undefined) {
    throw new FerryError('ARCHIVE_ENTRY_MISSING', `archive ${path} has no manifest.json`, {
      hint: 'The archive is truncated or was not written by Ferry; a plain tar -xzf may still recover its files.',
    });
  }
  const checker = new ManifestChecker(manifest, path);
  for (const { header, digest } of digests) {
    if (header.type === 'file') checker.check(header.path, digest);
    else checker.markSeen(header.path);
  }
  checker.assertComplete();
  return { manifest, entries: digests.length, bytes };
}
