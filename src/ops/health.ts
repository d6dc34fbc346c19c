import { findLeftovers } from './leftovers.js';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { anomalyRules, evaluateHealth, findAnomalies, unknownHealth, DEFAULT_THRESHOLDS, HEALTH_STATUS, writeMetricsFile, type AnomalyRules, type StoreCounts, type ChecksumFacts, type HealthFacts, type HealthResult, type HealthThresholds, type MetricsInput } from '../health/index.js';
import { storesFromConfig } from '../stores/index.js';
import { AGE_SUFFIX, isAgeHeader, storeTotals, writeFileAtomic, type Manifest } from '../archive/index.js';
import { isFerryError } from '../errors/index.js';
import { collect, type Repository } from '../repository/index.js';
import { baseOf, isDelta } from './chain.js';
import { lastVerification, mapConcurrently, recordedSha256, sha256Of, withDetails, type BackupDetails, type BackupSummary } from './catalog.js';
import type { OperationContext } from './context.js';
import { localRepository, withRemote } from './remote.js';
import { recordVerification, verifyBackup } from './verify.js';

export interface HealthOptions {
  thresholds?: Partial<HealthThresholds>;
  /** Re-check the newest archive in full instead of trusting its header, sidecars and last verify. */
  deep?: boolean;
  /** Skip re-reading the newest archive against its .sha256 (for archives too big to read every run). */
  quick?: boolean;
  metricsFile?: string;
  /** Check the copies at storage.remote instead of the backup directory. */
  remote?: boolean;
}

/**
 * What health reads beyond the repository's primitives, where the two locations differ on purpose:
 * re-reading a remote object costs its size in egress, so only --deep downloads it.
 */
interface BackupSource {
  repository: Repository;
  /** Reads the whole archive: the problems found. */
  deepCheck(backup: BackupSummary): Promise<string[]>;
  /** Holds the archive against its .sha256 sidecar; undefined when it has none. */
  checksum(backup: BackupSummary): Promise<ChecksumFacts | undefined>;
  /** Why the location cannot be checked at all (missing or unreadable), or undefined when it can. */
  unusable(): Promise<{ message: string; recommendation: string } | undefined>;
}

function localSource(ctx: OperationContext): BackupSource {
  const repository = localRepository(ctx);
  const directory = repository.where;
  return {
    repository,
    deepCheck: async (backup) => {
      const report = await verifyBackup(ctx, repository, backup.name);
      await recordVerification(ctx, repository, backup.name, report);
      return report.findings.map((f) => f.problem);
    },
    checksum: async (backup) => {
      let recorded: string | undefined;
      try {
        recorded = await recordedSha256(repository, backup.name);
      } catch (error) {
        if (!isFerryError(error)) throw error;
        return { ok: false, bytes: 0, seconds: 0, detail: error.message };
      }
      if (recorded === undefined) return undefined;
      const started = performance.now();
      const read = await sha256Of(ctx, repository, backup.name);
      const seconds = (performance.now() - started) / 1000;
      if ('error' in read) return { ok: false, bytes: read.size, seconds, detail: `cannot be read: ${read.error}` };
      return read.sha256 === recorded ? { ok: true, bytes: read.size, seconds, detail: 're-read' }
        : { ok: false, bytes: read.size, seconds, detail: `its bytes have sha256 ${read.sha256.slice(0, 12)}…, its .sha256 sidecar says ${recorded.slice(0, 12)}…` };
    },
    unusable: async () => {
      try {
        await readdir(directory);
        return undefined;
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') return { message: `backup directory ${directory} does not exist`, recommendation: 'Check BACKUP_DIRECTORY (backup.directory) and that its disk is mounted; ferry backup creates it.' };
        return { message: `backup directory ${directory} cannot be read (${code ?? (error as Error).message})`, recommendation: 'Run ferry health as a user that can read the backup directory, and check that it is a directory.' };
      }
    },
  };
}

/**
 * The remote's deep check reads the whole object and compares it with its .sha256 sidecar (and with
 * the local sidecar of the same backup, when this machine has one): proof that the off-site copy is
 * the archive that was verified here, without the key of an encrypted one.
 */
function remoteSource(ctx: OperationContext, remote: Repository): BackupSource {
  const local = localRepository(ctx);
  return {
    repository: remote,
    deepCheck: async (backup) => {
      const recorded = await recordedSha256(remote, backup.name);
      if (recorded === undefined) return [`${backup.path} has no .sha256 sidecar: its upload did not finish`];
      const read = await sha256Of(ctx, remote, backup.name);
      if ('error' in read) return [`${backup.path} cannot be read: ${read.error}`];
      const findings: string[] = [];
      if (read.sha256 !== recorded) findings.push(`${backup.path} has sha256 ${read.sha256}, its .sha256 sidecar says ${recorded}`);
      const here = await recordedSha256(local, backup.name).catch(() => undefined);
      if (here !== undefined && here !== read.sha256) findings.push(`${backup.path} differs from the local archive of the same name`);
      return findings;
    },
    checksum: async (backup) => {
      const started = performance.now();
      const recorded = await recordedSha256(remote, backup.name);
      if (recorded === undefined) return undefined;
      const here = await recordedSha256(local, backup.name).catch(() => undefined);
      const seconds = (performance.now() - started) / 1000;
      // Reading the object every quarter of an hour would cost its size in egress: --deep downloads it.
      if (here === undefined) return undefined;
      return here === recorded ? { ok: true, bytes: 0, seconds, detail: 'the remote .sha256 matches the local one' }
        : { ok: false, bytes: 0, seconds, detail: `the remote .sha256 says ${recorded.slice(0, 12)}…, the local one ${here.slice(0, 12)}…` };
    },
    // The remote's own errors (unreachable, credentials) already stop the check as UNKNOWN.
    unusable: async () => undefined,
  };
}

/** The sha256 of an archive's bytes, read to the end without keeping them; what was read when reading failed. */
/** Entries every backup of a store must hold. */
const REQUIRED_ENTRIES: Record<string, string[]> = {
  postgres: ['postgresql/database.backup', 'postgresql/database.sql'],
};

/** The archive starts as it should: gzip's magic bytes, or age's header for an encrypted one. */
function hasValidHeader(name: string, head: Buffer): boolean {
  if (name.endsWith(AGE_SUFFIX)) return isAgeHeader(head);
  return head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
}

function missingContents(ctx: OperationContext, newest: BackupDetails): string[] {
  const manifest = newest.manifest;
  // The old scripts' archives have no manifest: verify recorded which stores their folders hold.
  const verified = newest.verification?.oldScripts === true ? newest.verification.stores : undefined;
  if (manifest === undefined && verified !== undefined) return storesFromConfig(ctx.config).filter((s) => !verified.includes(s.kind)).map((s) => `${s.kind} (configured here)`);
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
  return (await healthWithMetrics(ctx, options)).result;
}

/** The check and the metrics it writes with --metrics-file, for callers that serve them (ferry serve's /metrics). */
export async function healthWithMetrics(ctx: OperationContext, options: HealthOptions = {}): Promise<{ result: HealthResult; metrics: MetricsInput }> {
  if (options.remote === true) return withRemote(ctx, (remote) => healthOf(ctx, remoteSource(ctx, remote), options));
  return healthOf(ctx, localSource(ctx), options);
}

async function healthOf(ctx: OperationContext, source: BackupSource, options: HealthOptions): Promise<{ result: HealthResult; metrics: MetricsInput }> {
  const { repository } = source;
  const unusable = await source.unusable();
  if (unusable !== undefined) {
    const result = unknownHealth(unusable);
    const metrics: MetricsInput = { location: repository.location, backups: 0, newest: undefined, lastVerifiedAt: undefined, healthStatus: HEALTH_STATUS.UNKNOWN, lastRun: undefined };
    if (options.metricsFile !== undefined) await writeMetricsFile(options.metricsFile, metrics, 'health');
    return { result, metrics };
  }
  const { backups } = await repository.catalog();
  const newest = backups[0] === undefined ? undefined : await withDetails(repository, backups[0]);
  const deepFindings = newest !== undefined && options.deep === true ? await source.deepCheck(newest) : undefined;
  const checksum = newest !== undefined && options.quick !== true ? await source.checksum(newest) : undefined;
  const heads = await manifestHeads(repository, backups);
  const rules = anomalyRules(ctx.config.health?.anomalies);
  const anomalies = newest === undefined ? undefined : anomaliesOf(newest, backups.slice(1, 1 + rules.thresholds.previous), heads, rules);
  for (const name of anomalies?.unmatched ?? []) ctx.log.warn(`${name}: none of the backups compared holds it (a typo, or an object that is gone)`);
  const chains = chainsOf(backups, heads);
  const kind = (backup: BackupSummary) => chains.kinds.get(backup.name);
  const result = evaluateHealth({
    directory: repository.where,
    count: backups.length,
    // A delta is compared with deltas, a full with fulls: their sizes differ by design.
    earlierSizes: backups.slice(1).filter((b) => backups[0] === undefined || kind(b) === kind(backups[0])).map((b) => b.size),
    brokenChains: chains.broken,
    location: repository.location,
    freeBytes: await repository.freeBytes(),
    newest: newest === undefined ? undefined : {
      name: newest.name,
      time: newest.time,
      size: newest.size,
      gzipHeader: hasValidHeader(newest.name, await collect(await repository.readArchive(newest.name, { start: 0, end: 31 }))),
      manifest: newest.manifest === undefined ? 'missing' : 'ok',
      checksumSidecar: newest.hasChecksum,
      delta: kind(newest) === 'delta',
      missing: missingContents(ctx, newest),
      contentsKnown: newest.manifest !== undefined || newest.verification?.stores !== undefined,
      verification: newest.verification,
      deepFindings,
      checksum,
    },
    anomalies,
    ...(repository.location === 'local' ? { leftovers: await findLeftovers(ctx.config.backup.directory, { tempDirectory: ctx.config.backup.temp_directory }) } : {}),
  }, { ...DEFAULT_THRESHOLDS, ...options.thresholds }, ctx.now?.() ?? new Date());
  const metrics = await metricsOf(repository, backups, newest, { healthStatus: HEALTH_STATUS[result.status], lastRun: undefined, checksumSeconds: checksum?.seconds, anomalies: anomalies?.found });
  if (options.metricsFile !== undefined) await writeMetricsFile(options.metricsFile, metrics, 'health');
  return { result: anomalies === undefined || newest === undefined ? result : { ...result, anomalies: { backup: newest.name, ...anomalies } }, metrics };
}

/** Every backup's manifest from its sidecar's head (undefined without one, or when it cannot be read). */
async function manifestHeads(repository: Repository, backups: BackupSummary[]): Promise<Map<string, Manifest | undefined>> {
  const heads = await mapConcurrently(backups, repository.parallelReads, async (backup) => [backup.name, (await withDetails(repository, backup, { entries: false }).catch(() => undefined))?.manifest] as const);
  return new Map(heads);
}

/**
 * Each backup's kind (full or delta) and the deltas whose base is not in the repository; a delta
 * whose base is there has its own base checked in turn.
 */
function chainsOf(backups: BackupSummary[], heads: Map<string, Manifest | undefined>): { kinds: Map<string, 'full' | 'delta'>; broken: Array<{ name: string; missing: string }> } {
  const names = new Set(backups.map((b) => b.name));
  const kinds = new Map<string, 'full' | 'delta'>();
  const broken: Array<{ name: string; missing: string }> = [];
  for (const backup of backups) {
    const manifest = heads.get(backup.name);
    if (manifest === undefined) continue;
    kinds.set(backup.name, isDelta(manifest) ? 'delta' : 'full');
    const base = baseOf(manifest);
    if (base !== undefined && !names.has(base.name)) broken.push({ name: backup.name, missing: base.name });
  }
  return { kinds, broken };
}

function countsOf(manifest: BackupDetails['manifest']): StoreCounts | undefined {
  return manifest === undefined ? undefined : Object.fromEntries(Object.entries(manifest.stores).map(([kind, store]) => [kind, store.counts]));
}

/** The newest backup's counts against the earlier ones that have a manifest sidecar. */
function anomaliesOf(newest: BackupDetails, earlier: BackupSummary[], heads: Map<string, Manifest | undefined>, rules: AnomalyRules): HealthFacts['anomalies'] {
  const counts = countsOf(newest.manifest);
  if (counts === undefined) return undefined;
  const compared: Array<{ name: string; counts: StoreCounts }> = [];
  for (const backup of earlier) {
    const found = countsOf(heads.get(backup.name));
    if (found !== undefined) compared.push({ name: backup.name, counts: found });
  }
  const all = compared.map((c) => c.counts);
  return {
    found: findAnomalies(counts, all, rules.thresholds, rules.ruleFor),
    compared: compared.map((c) => c.name),
    unmatched: rules.unmatched([counts, ...all]).map(({ key, name }) => `${key}: ${name}`),
  };
}

/** Metrics from what a location holds, plus what this run adds. */
async function metricsOf(repository: Repository, backups: BackupSummary[], newest: BackupDetails | undefined, run: Pick<MetricsInput, 'healthStatus' | 'lastRun' | 'lastUpload' | 'checksumSeconds' | 'anomalies'>): Promise<MetricsInput> {
  let lastVerifiedAt: Date | undefined;
  // Verify sidecars are read newest first, usually just one.
  for (const backup of backups) {
    if (!backup.hasVerifySidecar) continue;
    // Read again rather than taken from `newest`: a --deep check has just rewritten the newest one's.
    const verification = await lastVerification(repository, backup.name);
    if (verification?.ok === true) {
      lastVerifiedAt = new Date(verification.checkedAt);
      break;
    }
  }
  return {
    location: repository.location,
    backups: backups.length,
    newest: newest === undefined ? undefined : {
      time: newest.time,
      size: newest.size,
      durationSeconds: newest.manifest?.durationSeconds,
      stores: newest.manifest === undefined ? {} : storeTotals(newest.manifest),
    },
    lastVerifiedAt,
    healthStatus: run.healthStatus,
    lastRun: run.lastRun,
    lastUpload: run.lastUpload,
    checksumSeconds: run.checksumSeconds,
    anomalies: run.anomalies,
  };
}

/** For `ferry backup --metrics-file`: written after every run, failed runs included. */
export async function writeBackupMetrics(ctx: OperationContext, path: string, success: boolean, lastUpload?: MetricsInput['lastUpload']): Promise<void> {
  const repository = localRepository(ctx);
  const backups = await repository.catalog().then((c) => c.backups, () => [] as BackupSummary[]);
  const newest = backups[0] === undefined ? undefined : await withDetails(repository, backups[0]);
  await writeMetricsFile(path, await metricsOf(repository, backups, newest, { healthStatus: undefined, lastRun: { at: ctx.now?.() ?? new Date(), success }, lastUpload }), 'backup');
}

const ANOMALY_NOTICE = '.ferry-anomaly-notified';

/**
 * True the first time it is asked about this backup's anomalies: health runs every quarter of an
 * hour, and an anomaly is news once per backup. Records the backup it said yes for.
 */
export async function firstAnomalyNotice(ctx: OperationContext, backup: string): Promise<boolean> {
  const path = join(ctx.config.backup.directory, ANOMALY_NOTICE);
  if ((await readFile(path, 'utf8').catch(() => '')).trim() === backup) return false;
  await writeFileAtomic(path, `${backup}\n`).catch((error: unknown) => ctx.log.warn(`cannot record ${path}: ${(error as Error).message}`));
  return true;
}
