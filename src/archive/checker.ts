import { FerryError } from '../errors/index.js';
import type { Manifest, ManifestEntry } from './manifest.js';
import type { EntryDigest } from './reader.js';

/**
 * Compares what is found in an archive with what its manifest promises: every file entry's size and
 * sha256, nothing missing, nothing unexpected.
 */
export class ManifestChecker {
  private readonly expected = new Map<string, ManifestEntry>();
  private readonly seen = new Set<string>();

  constructor(private readonly manifest: Manifest, private readonly archive: string) {
    for (const entry of manifest.entries) this.expected.set(entryKey(entry.path), entry);
  }

  entry(path: string): ManifestEntry | undefined {
    return this.expected.get(entryKey(path));
  }

  /** What is wrong with the entry's bytes compared with the manifest, or undefined when nothing is. */
  compare(path: string, digest: EntryDigest): string | undefined {
    const key = entryKey(path);
    this.seen.add(key);
    const entry = this.expected.get(key);
    if (entry === undefined) return `entry ${path} is not listed in the manifest`;
    if (entry.sha256 !== undefined && (entry.size !== digest.size || entry.sha256 !== digest.sha256)) {
      return `entry ${path} does not match its checksum (expected ${entry.size} bytes sha256 ${entry.sha256.slice(0, 12)}…, found ${digest.size} bytes ${digest.sha256.slice(0, 12)}…)`;
    }
    return undefined;
  }

  /** Throws ARCHIVE_CORRUPT when the entry's bytes differ from the manifest. */
  check(path: string, digest: EntryDigest): void {
    const problem = this.compare(path, digest);
    if (problem !== undefined) {
      throw new FerryError('ARCHIVE_CORRUPT', `archive ${this.archive}: ${problem}`, {
        hint: 'The archive is corrupt; restore from another backup (ferry list) and check the disk it was stored on.',
      });
    }
  }

  markSeen(path: string): void {
    this.seen.add(entryKey(path));
  }

  /** Entries in the manifest that never came by. */
  missing(): string[] {
    return [...this.expected.keys()].filter((key) => !this.seen.has(key));
  }

  assertComplete(): void {
    const missing = this.missing();
    if (missing.length > 0) {
      throw new FerryError('ARCHIVE_ENTRY_MISSING', `archive ${this.archive} lacks ${missing.length} entr${missing.length === 1 ? 'y' : 'ies'} listed in its manifest, first ${missing[0]}`, {
        hint: 'The archive is incomplete; restore from another backup (ferry list).',
      });
    }
  }
}

/** How an entry's path is compared: without a leading ./ nor a directory's trailing slash. */
export function entryKey(path: string): string {
  return path.replace(/^\.\//, '').replace(/\/$/, '');
}
