import { findLeftovers } from './leftovers.js';
import { createReadStream } from 'node:fs';
import { open, readdir, readFile, statfs } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { join } from 'node:path';
import { anomalyRules, evaluateHealth, findAnomalies, unknownHealth, DEFAULT_THRESHOLDS, HEALTH_STATUS, writeMetricsFile, type AnomalyRules, type StoreCounts, type ChecksumFacts, type HealthFacts, type HealthResult, type HealthThresholds, type MetricsInput } from '../health/index.js';
import { storesFromConfig } from '../stores/index.js';
import { AGE_SUFFIX, DigestStream, isAgeHeader, storeTotals, VERIFY_SUFFIX, writeFileAtomic } from '../archive/index.js';
import { interrupted, isFerryError } from '../errors/index.js';
import type { RemoteStore } from '../remote/index.js';
import { baseOf, isDelta } from './chain.js';
import { catalog, lastVerification, mapConcurrently, parseVerification, recordedSha256, withDetails, type BackupDetails, type BackupSummary, type VerificationRecord } from './catalog.js';
import type { OperationContext } from './context.js';
import { remoteSha256 } from './pull.js';
import { remoteDetails, withRemote } from './remote.js';
import { recordVerification, verifyArchive } from './verify.js';

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

/** Where the backups that health and metrics look at are: the backup directory or the remote. */
interface BackupSource {
  location: MetricsInput['location'];
  where: string;
  backups(): Promise<BackupSummary[]>;
  details(backup: BackupSummary): Promise<BackupDetails>;
  /** The outcome of the backup's last verify, from its .verify.json alone. */
  verification(backup: BackupSummary): Promise<VerificationRecord | undefined>;
  /** The archive's first bytes. */
  head(backup: BackupSummary): Promise<Buffer>;
  /** Reads the whole archive: the problems found. */
  deepCheck(backup: BackupSummary): Promise<string[]>;
  /** Holds the archive against its .sha256 sidecar; undefined when it has none. */
  checksum(backup: BackupSummary): Promise<ChecksumFacts | undefined>;
  freeBytes(): Promise<number | undefined>;
  /** The backup's counts per store and object, from its manifest sidecar's head; undefined when unknown. */
  counts(backup: BackupSummary): Promise<StoreCounts | undefined>;
  /** Why the location cannot be checked at all (missing or unreadable), or undefined when it can. */
  unusable(): Promise<{ message: string; recommendation: string } | undefined>;
}

function localSource(ctx: OperationContext): BackupSource {
  const directory = ctx.config.backup.directory;
  return {
    location: 'local',
    where: directory,
    backups: async () => (await catalog(directory)).backups,
    details: (backup) => withDetails(backup),
    verification: (backup) => lastVerification(backup.path),
    head: async (backup) => {
      const handle = await open(backup.path, 'r');
      try {
        const { bytesRead, buffer } = await handle.read(Buffer.alloc(32), 0, 32, 0);
        return buffer.subarray(0, bytesRead);
      } finally {
        await handle.close();
      }
    },
    deepCheck: async (backup) => {
      const report = await verifyArchive(ctx, backup.path);
      await recordVerification(ctx, backup.path, report);
      return report.findings.map((f) => f.problem);
    },
    checksum: async (backup) => {
      let recorded: string | undefined;
      try {
        recorded = await recordedSha256(backup.path);
      } catch (error) {
        if (!isFerryError(error)) throw error;
        return { ok: false, bytes: 0, seconds: 0, detail: error.message };
      }
      if (recorded === undefined) return undefined;
      const started = performance.now();
      const digest = new DigestStream();
      try {
        await pipeline(createReadStream(backup.path, { highWaterMark: 1024 * 1024 }), digest, new Writable({ write: (_chunk, _encoding, done) => done() }), { signal: ctx.signal });
      } catch (error) {
        if (ctx.signal.aborted) throw interrupted();
        return { ok: false, bytes: digest.size, seconds: (performance.now() - started) / 1000, detail: `cannot be read: ${(error as Error).message}` };
      }
      const { sha256, size } = digest.digest();
      const seconds = (performance.now() - started) / 1000;
      return sha256 === recorded ? { ok: true, bytes: size, seconds, detail: 're-read' }
        : { ok: false, bytes: size, seconds, detail: `its bytes have sha256 ${sha256.slice(0, 12)}…, its .sha256 sidecar says ${recorded.slice(0, 12)}…` };
    },
    counts: async (backup) => countsOf((await withDetails(backup, { entries: false }).catch(() => undefined))?.manifest),
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
    freeBytes: async () => {
      const fs = await statfs(directory).catch(() => undefined);
      return fs === undefined ? 0 : fs.bavail * fs.bsize;
    },
  };
}

/**
 * The remote's deep check reads the whole object and compares it with its .sha256 sidecar (and with
 * the local sidecar of the same backup, when this machine has one): proof that the off-site copy is
 * the archive that was verified here, without the key of an encrypted one.
 */
function remoteSource(ctx: OperationContext, remote: RemoteStore): BackupSource {
  return {
    location: 'remote',
    where: remote.url,
    backups: async () => (await remote.catalog(ctx.signal)).backups,
    details: (backup) => remoteDetails(remote, { ...backup, etag: '' }, { signal: ctx.signal }),
    verification: async (backup) => parseVerification((await remote.read(backup.name + VERIFY_SUFFIX, undefined, ctx.signal))?.toString('utf8')),
    head: async (backup) => (await remote.read(backup.name, { start: 0, end: 31 }, ctx.signal)) ?? Buffer.alloc(0),
    deepCheck: async (backup) => {
      const recorded = await remote.recordedSha256(backup.name, ctx.signal);
      if (recorded === undefined) return [`${backup.path} has no .sha256 sidecar: its upload did not finish`];
      const { sha256 } = await remoteSha256(remote, backup.name, ctx.signal);
      const findings: string[] = [];
      if (sha256 !== recorded) findings.push(`${backup.path} has sha256 ${sha256}, its .sha256 sidecar says ${recorded}`);
      const local = await recordedSha256(join(ctx.config.backup.directory, backup.name));
      if (local !== undefined && local !== sha256) findings.push(`${backup.path} differs from the local archive of the same name`);
      return findings;
    },
    checksum: async (backup) => {
      const started = performance.now();
      const recorded = await remote.recordedSha256(backup.name, ctx.signal);
      if (recorded === undefined) return undefined;
      const local = await recordedSha256(join(ctx.config.backup.directory, backup.name)).catch(() => undefined);
      const seconds = (performance.now() - started) / 1000;
      // Reading the object every quarter of an hour would cost its size in egress: --deep downloads it.
      if (local === undefined) return undefined;
      return local === recorded ? { ok: true, bytes: 0, seconds, detail: 'the remote .sha256 matches the local one' }
        : { ok: false, bytes: 0, seconds, detail: `the remote .sha256 says ${recorded.slice(0, 12)}…, the local one ${local.slice(0, 12)}…` };
    },
    freeBytes: async () => undefined,
    // Reading N sidecars per run from the remote is left to the local check of the same backups.
    counts: async () => undefined,
    // The remote's own errors (unreachable, credentials) already stop the check as UNKNOWN.
    unusable: async () => undefined,
  };
}

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
  const unusable = await source.unusable();
  if (unusable !== undefined) {
    const result = unknownHealth(unusable);
    const metrics: MetricsInput = { location: source.location, backups: 0, newest: undefined, lastVerifiedAt: undefined, healthStatus: HEALTH_STATUS.UNKNOWN, lastRun: undefined };
    if (options.metricsFile !== undefined) await writeMetricsFile(options.metricsFile, metrics, 'health');
    return { result, metrics };
  }
  const backups = await source.backups();
  const newest = backups[0] === undefined ? undefined : await source.details(backups[0]);
  const deepFindings = newest !== undefined && options.deep === true ? await source.deepCheck(newest) : undefined;
  const checksum = newest !== undefined && options.quick !== true ? await source.checksum(newest) : undefined;
  const rules = anomalyRules(ctx.config.health?.anomalies);
  const anomalies = newest === undefined ? undefined : await anomaliesOf(source, newest, backups.slice(1, 1 + rules.thresholds.previous), rules);
  for (const name of anomalies?.unmatched ?? []) ctx.log.warn(`${name}: none of the backups compared holds it (a typo, or an object that is gone)`);
  const chains = source.location === 'local' ? await chainsOf(backups) : undefined;
  const kind = (backup: BackupSummary) => chains?.kinds.get(backup.name);
  const result = evaluateHealth({
    directory: source.where,
    count: backups.length,
    // A delta is compared with deltas, a full with fulls: their sizes differ by design.
    earlierSizes: backups.slice(1).filter((b) => backups[0] === undefined || kind(b) === kind(backups[0])).map((b) => b.size),
    ...(chains === undefined ? {} : { brokenChains: chains.broken }),
    freeBytes: await source.freeBytes(),
    newest: newest === undefined ? undefined : {
      name: newest.name,
      time: newest.time,
      size: newest.size,
      gzipHeader: hasValidHeader(newest.name, await source.head(newest)),
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
    ...(source.location === 'local' ? { leftovers: await findLeftovers(ctx.config.backup.directory, { tempDirectory: ctx.config.backup.temp_directory }) } : {}),
  }, { ...DEFAULT_THRESHOLDS, ...options.thresholds }, ctx.now?.() ?? new Date());
  const metrics = await metricsOf(source, backups, newest, { healthStatus: HEALTH_STATUS[result.status], lastRun: undefined, checksumSeconds: checksum?.seconds, anomalies: anomalies?.found });
  if (options.metricsFile !== undefined) await writeMetricsFile(options.metricsFile, metrics, 'health');
  return { result: anomalies === undefined || newest === undefined ? result : { ...result, anomalies: { backup: newest.name, ...anomalies } }, metrics };
}

/**
 * Each backup's kind (full or delta) and the deltas whose base is not in the directory, from the
 * manifest sidecars' heads; a delta whose base is there has its own base checked in turn.
 */
async function chainsOf(backups: BackupSummary[]): Promise<{ kinds: Map<string, 'full' | 'delta'>; broken: Array<{ name: string; missing: string }> }> {
  const names = new Set(backups.map((b) => b.name));
  const kinds = new Map<string, 'full' | 'delta'>();
  const broken: Array<{ name: string; missing: string }> = [];
  const heads = await mapConcurrently(backups, 16, async (backup) => ({ backup, manifest: (await withDetails(backup, { entries: false }).catch(() => undefined))?.manifest }));
  for (const { backup, manifest } of heads) {
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
async function anomaliesOf(source: BackupSource, newest: BackupDetails, earlier: BackupSummary[], rules: AnomalyRules): Promise<HealthFacts['anomalies']> {
  const counts = countsOf(newest.manifest);
  if (counts === undefined) return undefined;
  const compared: Array<{ name: string; counts: StoreCounts }> = [];
  for (const backup of earlier) {
    const found = await source.counts(backup);
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
async function metricsOf(source: BackupSource, backups: BackupSummary[], newest: BackupDetails | undefined, run: Pick<MetricsInput, 'healthStatus' | 'lastRun' | 'lastUpload' | 'checksumSeconds' | 'anomalies'>): Promise<MetricsInput> {
  let lastVerifiedAt: Date | undefined;
  // Verify sidecars are read newest first, usually just one.
  for (const backup of backups) {
    if (!backup.hasVerifySidecar) continue;
    // Read again rather than taken from `newest`: a --deep check has just rewritten the newest one's.
    const verification = await source.verification(backup);
    if (verification?.ok === true) {
      lastVerifiedAt = new Date(verification.checkedAt);
      break;
    }
  }
  return {
    location: source.location,
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
  const source = localSource(ctx);
  const backups = await source.backups().catch(() => [] as BackupSummary[]);
  const newest = backups[0] === undefined ? undefined : await source.details(backups[0]);
  await writeMetricsFile(path, await metricsOf(source, backups, newest, { healthStatus: undefined, lastRun: { at: ctx.now?.() ?? new Date(), success }, lastUpload }), 'backup');
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
