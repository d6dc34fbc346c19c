import { open, statfs } from 'node:fs/promises';
import { evaluateHealth, DEFAULT_THRESHOLDS, HEALTH_STATUS, writeMetricsFile, type HealthResult, type HealthThresholds, type MetricsInput } from '../health/index.js';
import { storesFromConfig } from '../stores/index.js';
import { AGE_SUFFIX, isAgeHeader, storeTotals } from '../archive/index.js';
import { catalog, withDetails, type BackupDetails, type BackupSummary } from './catalog.js';
import type { OperationContext } from './context.js';
import { recordVerification, verifyArchive } from './verify.js';

export interface HealthOptions {
  thresholds?: Partial<HealthThresholds>;
  /** Re-verify the newest archive in full instead of trusting its header, sidecars and last verify. */
  deep?: boolean;
  metricsFile?: string;
}

/** Entries every backup of a store must hold. */
const REQUIRED_ENTRIES: Record<string, string[]> = {
  postgres: ['postgresql/database.backup', 'postgresql/database.sql'],
};

/** The archive starts as it should: gzip's magic bytes, or age's header for an encrypted one. */
async function hasValidHeader(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const { bytesRead, buffer } = await handle.read(Buffer.alloc(32), 0, 32, 0);
    if (path.endsWith(AGE_SUFFIX)) return isAgeHeader(buffer.subarray(0, bytesRead));
    return bytesRead >= 2 && buffer[0] === 0x1f && buffer[1] === 0x8b;
  } finally {
    await handle.close();
  }
}

function missingContents(ctx: OperationContext, newest: BackupDetails): string[] {
  const manifest = newest.manifest;
  if (manifest === undefined) return [];
  const missing: string[] = [];
  for (const store of storesFromConfig(ctx.config)) {
    if (manifest.stores[store.kind] === undefined) missing.push(`${store.kind} (configured here)`);
  }
  const paths = new Set(manifest.entries.map((e) => e.path));
  // The sidecar of an encrypted archive lists no entries: only its stores can be checked.
  for (const kind of manifest.encryption === undefined ? Object.keys(manifest.stores) : []) {
    for (const entry of REQUIRED_ENTRIES[kind] ?? []) if (!paths.has(entry)) missing.push(entry);
  }
  return missing;
}

/** The monitoring check: reads sidecars and the archive's first bytes (everything with deep). */
export async function health(ctx: OperationContext, options: HealthOptions = {}): Promise<HealthResult> {
  const directory = ctx.config.backup.directory;
  const { backups } = await catalog(directory);
  const newest = backups[0] === undefined ? undefined : await withDetails(backups[0]);
  let deepFindings: string[] | undefined;
  if (newest !== undefined && options.deep === true) {
    const report = await verifyArchive(ctx, newest.path);
    await recordVerification(ctx, newest.path, report);
    deepFindings = report.findings.map((f) => f.problem);
  }
  const fs = await statfs(directory).catch(() => undefined);
  const result = evaluateHealth({
    directory,
    count: backups.length,
    earlierSizes: backups.slice(1).map((b) => b.size),
    freeBytes: fs === undefined ? 0 : fs.bavail * fs.bsize,
    newest: newest === undefined ? undefined : {
      name: newest.name,
      time: newest.time,
      size: newest.size,
      gzipHeader: await hasValidHeader(newest.path),
      manifest: newest.manifest === undefined ? 'missing' : 'ok',
      checksumSidecar: newest.hasChecksum,
      missing: missingContents(ctx, newest),
      verification: newest.verification,
      deepFindings,
    },
  }, { ...DEFAULT_THRESHOLDS, ...options.thresholds }, ctx.now?.() ?? new Date());
  if (options.metricsFile !== undefined) await writeMetricsFile(options.metricsFile, await metricsFrom(backups, HEALTH_STATUS[result.status], undefined));
  return result;
}

/** The newest backup that passed verification: sidecars are read newest first, usually just one. */
async function lastVerifiedAt(backups: BackupSummary[]): Promise<Date | undefined> {
  for (const backup of backups) {
    if (!backup.hasVerifySidecar) continue;
    const { verification } = await withDetails(backup);
    if (verification?.ok === true) return new Date(verification.checkedAt);
  }
  return undefined;
}

/** Metrics from what the backup directory holds, plus what this run adds. */
export async function metricsFrom(backups: BackupSummary[], healthStatus: number | undefined, lastRun: MetricsInput['lastRun']): Promise<MetricsInput> {
  const newest = backups[0] === undefined ? undefined : await withDetails(backups[0]);
  return {
    backups: backups.length,
    newest: newest === undefined ? undefined : {
      time: newest.time,
      size: newest.size,
      durationSeconds: newest.manifest?.durationSeconds,
      stores: newest.manifest === undefined ? {} : storeTotals(newest.manifest),
    },
    lastVerifiedAt: await lastVerifiedAt(backups),
    healthStatus,
    lastRun,
  };
}

/** For `ferry backup --metrics-file`: written after every run, failed runs included. */
export async function writeBackupMetrics(ctx: OperationContext, path: string, success: boolean): Promise<void> {
  const { backups } = await catalog(ctx.config.backup.directory).catch(() => ({ backups: [] as BackupSummary[] }));
  await writeMetricsFile(path, await metricsFrom(backups, undefined, { at: ctx.now?.() ?? new Date(), success }));
}
