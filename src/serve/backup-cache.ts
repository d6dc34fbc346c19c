import { stat } from 'node:fs/promises';
import { VERIFY_SUFFIX } from '../archive/index.js';
import { mapConcurrently, withDetails, type BackupDetails } from '../ops/catalog.js';
import { LocalRepository } from '../repository/index.js';
import type { OperationContext } from '../ops/context.js';
import type { ListResult } from '../ops/list.js';

interface Cached {
  size: number;
  hasChecksum: boolean;
  hasManifestSidecar: boolean;
  verifiedAt: number | undefined;
  details: BackupDetails;
}

/**
 * What `ferry list` reads (catalog, then each backup's sidecars), kept between requests: a page over
 * a thousand backups must not re-read a thousand manifests. Ferry writes every sidecar through a
 * rename, so the backup directory's own times change whenever one appears, goes or is replaced:
 * while they stand still the list is reused whole, and when they move only the backups whose
 * archive size, sidecars or .verify.json changed are read again.
 */
export class BackupCache {
  private key: string | undefined;
  private listed: ListResult | undefined;
  private readonly backups = new Map<string, Cached>();
  private derived = new Map<string, unknown>();

  constructor(private readonly ctx: OperationContext) {}

  async list(): Promise<ListResult> {
    const directory = this.ctx.config.backup.directory;
    const times = await stat(directory).catch(() => undefined);
    const key = times === undefined ? 'missing' : `${times.mtimeMs}/${times.ctimeMs}`;
    if (key === this.key && this.listed !== undefined) return this.listed;
    const repository = new LocalRepository(directory);
    const { backups, foreign } = await repository.catalog();
    const seen = new Set<string>();
    const details = await mapConcurrently(backups, 32, async (backup) => {
      seen.add(backup.name);
      const verifiedAt = backup.hasVerifySidecar ? (await stat(backup.path + VERIFY_SUFFIX).catch(() => undefined))?.mtimeMs : undefined;
      const cached = this.backups.get(backup.name);
      if (cached !== undefined && cached.size === backup.size && cached.hasChecksum === backup.hasChecksum
        && cached.hasManifestSidecar === backup.hasManifestSidecar && cached.verifiedAt === verifiedAt) return cached.details;
      const fresh = await withDetails(repository, backup, { entries: false });
      this.backups.set(backup.name, { size: backup.size, hasChecksum: backup.hasChecksum, hasManifestSidecar: backup.hasManifestSidecar, verifiedAt, details: fresh });
      return fresh;
    });
    for (const name of [...this.backups.keys()]) if (!seen.has(name)) this.backups.delete(name);
    this.key = key;
    this.listed = { directory, backups: details, foreign };
    this.derived = new Map();
    return this.listed;
  }

  /** A value computed from the current list (the trends), computed again only when the list changes. */
  async derive<T>(name: string, compute: (listed: ListResult) => T): Promise<T> {
    const listed = await this.list();
    if (!this.derived.has(name)) this.derived.set(name, compute(listed));
    return this.derived.get(name) as T;
  }
}
