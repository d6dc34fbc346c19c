import { randomBytes } from 'node:crypto';
import { lstat, rename, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { AGE_SUFFIX } from './encryption.js';
import { ARCHIVE_EXTENSION } from './codec.js';
import { CHECKSUM_SUFFIX, MANIFEST_SUFFIX, VERIFY_SUFFIX } from './naming.js';

/**
 * Every name the link can have: gzip or zstd, clear or encrypted (the old workflow copies
 * `scp prod:…/backups/backup_latest.tar.gz`).
 */
const LATEST_NAMES = Object.values(ARCHIVE_EXTENSION).flatMap((extension) => [`backup_latest${extension}`, `backup_latest${extension}${AGE_SUFFIX}`]);
const SIDECAR_SUFFIXES = [CHECKSUM_SUFFIX, MANIFEST_SUFFIX, VERIFY_SUFFIX];

export function isLatestName(name: string): boolean {
  return LATEST_NAMES.includes(name);
}

/** backup_latest.tar.gz's own sidecars (.sha256, .manifest.json, .verify.json). */
export function isLatestSidecarName(name: string): boolean {
  return SIDECAR_SUFFIXES.some((suffix) => name.endsWith(suffix) && isLatestName(name.slice(0, -suffix.length)));
}

/**
 * Points backup_latest.tar.gz (.tar.zst for zstd, then .age for an encrypted archive) and its
 * sidecars at the archive just written, as relative links in the same directory, each swapped in by
 * a rename so a reader never finds none. A regular file of that name (a copy someone put there) is
 * never replaced: returned as a warning. Links of the other kinds (another codec, encrypted or not)
 * are removed, so "latest" names one archive.
 */
export async function updateLatestLink(directory: string, archiveName: string): Promise<string[]> {
  const warnings: string[] = [];
  const latest = archiveName.replace(/^backup_\d{8}_\d{6}/, 'backup_latest');
  for (const suffix of ['', ...SIDECAR_SUFFIXES]) {
    for (const other of LATEST_NAMES.filter((name) => name !== latest)) {
      const stale = join(directory, other + suffix);
      if ((await lstat(stale).catch(() => undefined))?.isSymbolicLink() === true) await rm(stale, { force: true });
    }
    const link = join(directory, latest + suffix);
    const existing = await lstat(link).catch(() => undefined);
    if (existing !== undefined && !existing.isSymbolicLink()) {
      warnings.push(`${link} is a regular file, not Ferry's link: left as it is`);
      continue;
    }
    const target = archiveName + suffix;
    if (await lstat(join(directory, target)).catch(() => undefined) === undefined) {
      if (existing !== undefined) await rm(link, { force: true });
      continue;
    }
    const temp = join(directory, `.${latest}${suffix}.${randomBytes(4).toString('hex')}.tmp`);
    await symlink(target, temp);
    try {
      await rename(temp, link);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
  }
  return warnings;
}
