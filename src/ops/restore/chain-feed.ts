import type { Readable } from 'node:stream';
import { DigestStream, drain, readArchive, StopReading, type ArchiveEntryHeader, type Manifest, type ManifestEntry, type ReadArchiveOptions } from '../../archive/index.js';
import { FerryError } from '../../errors/index.js';
import { CHAIN_PREFIX, type ChainLink } from '../chain.js';

/**
 * Chooses, from a full and its deltas read oldest first, the one copy of each file of the final list
 * that goes into the folder being built: the first whose checksum is the final one. Folders and links
 * come from the restored delta itself, which holds all of them; deleted paths are in no final list,
 * so nothing brings them back. Each file is written once, with the mode and time it ends with.
 */
export class ChainFeed {
  private readonly final: Map<string, ManifestEntry>;
  /** File path → the archive its content was taken from. */
  private readonly placed = new Map<string, string>();

  constructor(files: readonly ManifestEntry[], private readonly restored: string) {
    this.final = new Map(files.map((entry) => [entry.path, entry]));
  }

  /** The header to stage an entry of `archive` with, or undefined to skip it. */
  select(header: ArchiveEntryHeader, archive: string, entries: ReadonlyMap<string, ManifestEntry>): ArchiveEntryHeader | undefined {
    const last = archive === this.restored;
    if (header.path === CHAIN_PREFIX) return last ? header : undefined;
    const final = this.final.get(header.path);
    if (final === undefined || final.type !== header.type) return undefined;
    if (header.type !== 'file') return last ? header : undefined;
    if (this.placed.has(header.path) || final.sha256 === undefined || entries.get(header.path)?.sha256 !== final.sha256) return undefined;
    this.placed.set(header.path, archive);
    return { ...header, ...(final.mode === undefined ? {} : { mode: final.mode }), ...(final.mtime === undefined ? {} : { mtime: new Date(final.mtime) }) };
  }

  /**
   * Once an archive has been read and every entry matched the manifest inside it: the files taken
   * from it have, by that manifest, the final list's sha256.
   */
  confirm(archive: string, inner: Manifest): void {
    const inside = new Map(inner.entries.map((entry) => [entry.path, entry.sha256]));
    for (const [path, from] of this.placed) {
      if (from === archive && inside.get(path) !== this.final.get(path)?.sha256) {
        throw new FerryError('ARCHIVE_CORRUPT', `archive ${archive}: ${path} is not the file its chain's list records`, {
          hint: 'The archive was changed after it was written; restore another backup (ferry list) and run ferry verify on this one.',
        });
      }
    }
  }

  /** Every file of the final list found a copy with its checksum somewhere in the chain. */
  assertComplete(): void {
    const missing = [...this.final.values()].filter((entry) => entry.type === 'file' && !this.placed.has(entry.path));
    if (missing.length === 0) return;
    throw new FerryError('ARCHIVE_ENTRY_MISSING', `the chain of ${this.restored} holds no copy of ${missing.slice(0, 3).map((e) => e.path).join(', ')}${missing.length > 3 ? ` and ${missing.length - 3} more` : ''} with the checksum its list records`, {
      hint: 'An archive of the chain was replaced or edited; restore another backup (ferry list) and run ferry verify on this chain.',
    });
  }
}

/**
 * Reads the uploads files a link of the chain gives, each checked against the sha256 of the link's
 * manifest (which its successor names by its own sha256), and stops once the link's uploads entries
 * are past: a backup writes the uploads first, so the databases a link also holds, which the
 * restore takes from the delta itself, are neither decompressed nor checked here.
 */
export async function readChainLink(
  link: ChainLink, feed: ChainFeed, accept: (header: ArchiveEntryHeader, data: Readable) => Promise<void>, options: ReadArchiveOptions,
): Promise<void> {
  const entries = new Map(link.manifest.entries.map((entry) => [entry.path, entry]));
  const uploads = link.manifest.entries.filter((entry) => entry.path.startsWith(CHAIN_PREFIX)).length;
  let seen = 0;
  await readArchive(link.path, async (header, data) => {
    if (!header.path.startsWith(CHAIN_PREFIX)) {
      if (seen >= uploads) throw new StopReading();
      return drain(data);
    }
    seen++;
    const selected = feed.select(header, link.name, entries);
    if (selected === undefined) return drain(data);
    const digest = new DigestStream();
    await accept(selected, data.pipe(digest));
    if (digest.digest().sha256 !== entries.get(header.path)?.sha256) {
      throw new FerryError('ARCHIVE_CORRUPT', `archive ${link.name}: ${header.path} does not match its sha256 in the manifest`, {
        hint: 'A link of the chain is damaged; nothing was changed. Restore another backup (ferry list) and run ferry verify on this one.',
      });
    }
  }, options);
}
