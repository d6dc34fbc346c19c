import { FerryError } from '../errors/index.js';
import { ManifestChecker } from './checker.js';
import { LEGACY_FORMAT_VERSION, MANIFEST_ENTRY, parseManifest, type Manifest } from './manifest.js';
import { DigestStream, drain, readArchive, readSmallEntry, type EntryDigest, type EntryHandler, type ReadArchiveOptions } from './reader.js';

/**
 * Reads an archive once, handing every entry but the manifest to `onEntry` while hashing it, then
 * holds what was read against the manifest inside (or `sidecar`, for an archive of the old scripts,
 * which has none): the first entry that differs, is extra or is missing throws. Returns the manifest.
 */
export async function readArchiveChecked(path: string, sidecar: Manifest, onEntry: EntryHandler, options: ReadArchiveOptions = {}): Promise<Manifest> {
  const digests: Array<{ path: string; type: string; digest: EntryDigest }> = [];
  let inner: Manifest | undefined;
  await readArchive(path, async (header, data) => {
    if (header.path === MANIFEST_ENTRY) {
      inner = parseManifest((await readSmallEntry(data)).toString('utf8'), path);
      return;
    }
    const digest = new DigestStream();
    await onEntry(header, data.pipe(digest));
    digests.push({ path: header.path, type: header.type, digest: digest.digest() });
  }, options);
  if (inner === undefined && sidecar.formatVersion !== LEGACY_FORMAT_VERSION) {
    throw new FerryError('ARCHIVE_ENTRY_MISSING', `archive ${path} has no manifest.json`, { hint: 'The archive is truncated; restore from another backup.' });
  }
  const manifest = inner ?? sidecar;
  const checker = new ManifestChecker(manifest, path);
  for (const { path: entry, type, digest } of digests) {
    if (type === 'file') checker.check(entry, digest);
    else checker.markSeen(entry);
  }
  checker.assertComplete();
  return manifest;
}

/**
 * Reads an archive from its start only as far as `onEntry` wants: the handler ends the read by
 * throwing StopReading, before it consumes the entry it was handed (that one is then not checked).
 * Each entry consumed is held against `manifest` as soon as it has been read, so a damaged one throws
 * before the next is read. Entries never reached are not checked (ferry verify reads them all), and
 * neither is the manifest inside, since `manifest` is what the entries are checked against.
 */
export async function readArchiveHeadChecked(path: string, manifest: Manifest, onEntry: EntryHandler, options: ReadArchiveOptions = {}): Promise<void> {
  const checker = new ManifestChecker(manifest, path);
  await readArchive(path, async (header, data) => {
    if (header.path === MANIFEST_ENTRY) {
      await drain(data);
      return;
    }
    const digest = new DigestStream();
    await onEntry(header, data.pipe(digest));
    if (header.type === 'file') checker.check(header.path, digest.digest());
    else checker.markSeen(header.path);
  }, options);
}
