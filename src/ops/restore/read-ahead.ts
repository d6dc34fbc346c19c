import { DigestStream, drain, ManifestChecker, readArchive, StopReading, type ArchiveEntryHeader, type Manifest, type ReadArchiveOptions } from '../../archive/index.js';
import type { Logger, RestoreStaging } from '../../stores/index.js';
import { fromSeekPoint } from './seek-pass.js';

/** Bytes staged before a wanted entry below which a second pass is not worth its reading. */
const WORTH_SKIPPING_BYTES = 32 * 1024 * 1024;

interface WantedEntry {
  staging: RestoreStaging;
  relativePath: string;
}

/**
 * Backup writes the uploads into the archive while pg_dump is still running, so the dump comes after
 * them; a restore whose one pass waited for it would start loading the database — its longest step —
 * only once every upload was written. The entries a store wants early (RestoreStaging.readAhead) are
 * taken from a second pass over the file that skips to them, checks them against the manifest and
 * stops there; the main pass starts once it is done (restore's apply). Whichever pass reaches such
 * an entry first hands it to its store; the other only reads past it (the main pass still checks it).
 */
export class ReadAhead {
  private readonly claimed = new Set<string>();

  private constructor(private readonly wanted: ReadonlyMap<string, WantedEntry>) {}

  /**
   * Undefined when the wanted entries come early anyway (or after entries no store writes), or when
   * the archive is encrypted (a second pass would decrypt the part it skips twice).
   */
  static plan(manifest: Manifest, stagings: ReadonlyMap<string, RestoreStaging>, encrypted: boolean): ReadAhead | undefined {
    if (encrypted) return undefined;
    const wanted = new Map<string, WantedEntry>();
    for (const [prefix, staging] of stagings) {
      for (const relativePath of staging.readAhead ?? []) wanted.set(prefix + relativePath, { staging, relativePath });
    }
    // Only what the main pass writes before it (another store's entries) delays it: entries it merely reads past do not.
    const prefixes = [...stagings.keys()];
    let before = 0;
    for (const entry of manifest.entries) {
      if (wanted.has(entry.path)) return before >= WORTH_SKIPPING_BYTES ? new ReadAhead(wanted) : undefined;
      if (prefixes.some((prefix) => entry.path.startsWith(prefix))) before += entry.size ?? 0;
    }
    return undefined;
  }

  /** True when the main pass must only read past this entry: the second pass has it. */
  takenAhead(path: string): boolean {
    return this.wanted.has(path) && !this.claim(path);
  }

  /**
   * The second pass: hands the wanted entries it reaches first to their stores, checked, and stops
   * after the last. It starts at the first wanted entry's seek point when the manifest records one.
   * A seek point that does not lead to that entry (a sidecar copied beside another archive), or
   * damage before it, is only reported: the pass then starts at the beginning, where damage is
   * found again and named.
   */
  async run(archive: string, manifest: Manifest, log: Logger, options: Pick<ReadArchiveOptions, 'signal'>): Promise<void> {
    const seek = manifest.entries.find((entry) => this.wanted.has(entry.path))?.seek;
    await fromSeekPoint(
      seek,
      (from, onReached) => this.pass(archive, manifest, log, { ...options, from }, onReached),
      (why) => log.debug(`reading ahead from the seek point the manifest gives failed before reaching ${[...this.wanted.keys()].join(', ')} (${why}); reading from the start`),
    );
  }

  private async pass(archive: string, manifest: Manifest, log: Logger, options: Pick<ReadArchiveOptions, 'signal' | 'from'>, onReached: () => void): Promise<void> {
    const checker = new ManifestChecker(manifest, archive);
    let left = this.wanted.size;
    let first = true;
    await readArchive(archive, async (header: ArchiveEntryHeader, data) => {
      const target = this.wanted.get(header.path);
      // From a seek point, the first entry must be the one it was recorded for.
      if (first && options.from !== undefined && target === undefined) throw new StopReading();
      first = false;
      if (target !== undefined) onReached();
      if (target === undefined || !this.claim(header.path)) await drain(data);
      else {
        const digest = new DigestStream();
        await target.staging.accept(header, target.relativePath, data.pipe(digest));
        log.debug(`${header.path} read ahead of the archive's pass${options.from === undefined ? '' : ', from its seek point'}, checked`);
        checker.check(header.path, digest.digest());
      }
      if (target !== undefined && --left === 0) throw new StopReading();
    }, options);
  }

  private claim(path: string): boolean {
    if (this.claimed.has(path)) return false;
    this.claimed.add(path);
    return true;
  }
}
