import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import {
  CHECKSUM_SUFFIX, DigestStream, drain, LEGACY_FORMAT_VERSION, ManifestChecker, MANIFEST_ENTRY, parseManifest, readArchive, readArchiveStream, readSmallEntry, VERIFY_SUFFIX,
  writeFileAtomic, type ArchiveEntryHeader, type EntryDigest, type EntryHandler, type Manifest, type ReadArchiveOptions,
} from '../archive/index.js';
import { FerryError, isFerryError } from '../errors/index.js';
import { CONTENT_CHECKERS, type ContentCheckResult } from '../stores/index.js';
import { catalog, locateArchive, manifestOf } from './catalog.js';
import { chainProblems, isDelta } from './chain.js';
import type { OperationContext } from './context.js';
import { decryption } from './keys.js';
import { deriveLegacy, isJsonEntry, LEGACY_JSON_LIMIT, legacyFindings } from './verify-legacy.js';
import { countThrough, EntryAudit } from './verify-entries.js';

export interface VerifyFinding {
  /** The entry concerned, or "archive" for the file as a whole. */
  entry: string;
  problem: string;
}

export interface VerifyReport {
  archive: string;
  ok: boolean;
  checkedAt: string;
  durationSeconds: number;
  /** Archive bytes read (compressed) and entry bytes checked. */
  archiveBytes: number;
  entryBytes: number;
  entries: Array<{ path: string; size: number; ok: boolean }>;
  findings: VerifyFinding[];
  /** Made by the old scripts: no manifest, so no checksums or counts to compare; only readability checked. */
  oldScripts: boolean;
  /** Not problems of the archive itself (exit 0), but worth saying: a missing .sha256 sidecar. */
  warnings: string[];
  /** Made by the old scripts: the stores it holds (a folder with a file in it), for health's contents check. */
  stores?: string[];
}

type Reader = (onEntry: EntryHandler, options: ReadArchiveOptions) => Promise<void>;

/**
 * Reads an archive once and proves it: every entry's size and sha256 against the manifest inside it
 * (written last), nothing missing or extra, the PostgreSQL dump readable to its end, every BSON
 * document parsing, JSON exports parsing, and as many rows of each as the manifest records.
 * Collects every finding.
 */
async function verifyWith(ctx: OperationContext, label: string, read: Reader, sidecar: Manifest | undefined, contentProven?: ReadonlySet<string>): Promise<VerifyReport> {
  // An archive being written is Ferry's; one read from disk without a sidecar may be the old scripts'.
  const mayBeOldScripts = contentProven === undefined && sidecar === undefined;
  const proven = contentProven ?? new Set<string>();
  const started = Date.now();
  const findings: VerifyFinding[] = [];
  const digests: Array<{ path: string; type: string; digest: EntryDigest }> = [];
  const headers: ArchiveEntryHeader[] = [];
  const audit = new EntryAudit();
  // Without a sidecar the archive may turn out to be the old scripts' (known only at its end): JSON kept to parse whole.
  const jsonBodies = new Map<string, DigestStream>();
  const checked = new Map<string, ContentCheckResult>();
  let inner: Manifest | undefined;
  let archiveBytes = 0;
  const tempDir = await mkdtemp(join(ctx.config.backup.temp_directory ?? tmpdir(), 'ferry-verify-'));
  const checkCtx = { signal: ctx.signal, log: ctx.log, pgBinDir: ctx.config.postgres?.bin_dir, pgExec: ctx.config.postgres?.exec, tempDir };
  const pendingChecks: Array<Promise<void>> = [];
  try {
    await read(async (header, data) => {
      if (header.path === MANIFEST_ENTRY) {
        const text = (await readSmallEntry(data)).toString('utf8');
        try {
          inner = parseManifest(text, label);
        } catch (error) {
          if (!isFerryError(error)) throw error;
          findings.push({ entry: MANIFEST_ENTRY, problem: error.message });
        }
        return;
      }
      headers.push(header);
      const counter = audit.see(header);
      const keep = mayBeOldScripts && header.type === 'file' && isJsonEntry(header.path);
      const digest = new DigestStream(keep ? LEGACY_JSON_LIMIT : 0);
      if (keep) jsonBodies.set(header.path, digest);
      const flowing = (data as Readable).pipe(digest);
      // pipe() does not pass a damaged entry's error on; a checker reading `flowing` must see it.
      (data as Readable).once('error', (error) => digest.destroy(error));
      const checker = header.type === 'file' && !proven.has(header.path) ? CONTENT_CHECKERS.find((c) => c.accepts(header.path)) : undefined;
      if (checker !== undefined) {
        const checking = checker.check(header.path, flowing, checkCtx).then((result) => void checked.set(header.path, result));
        checking.catch(() => undefined);
        pendingChecks.push(checking);
        // The next entry comes as soon as this one is read; a slow check finishes meanwhile.
        await Promise.race([finished(flowing), checking]);
      } else if (counter !== undefined) {
        await countThrough(flowing, counter);
      } else {
        await drain(flowing);
      }
      digests.push({ path: header.path, type: header.type, digest: digest.digest() });
    }, { signal: ctx.signal, onCompressedBytes: (n) => {
      archiveBytes = n;
      ctx.progress.update(n);
    } });
    await Promise.all(pendingChecks);
  } catch (error) {
    if (!isFerryError(error) || ['INTERRUPTED', 'ARCHIVE_NOT_FOUND', 'DECRYPT_KEY_MISSING', 'DECRYPT_WRONG_KEY'].includes(error.code)) throw error;
    findings.push({ entry: 'archive', problem: error.message });
  } finally {
    await Promise.allSettled(pendingChecks);
    await rm(tempDir, { recursive: true, force: true });
  }
  let manifest = inner ?? (sidecar?.formatVersion === LEGACY_FORMAT_VERSION ? sidecar : undefined);
  let oldScripts = manifest?.formatVersion === LEGACY_FORMAT_VERSION;
  if (manifest === undefined && mayBeOldScripts && !findings.some((f) => f.entry === 'archive')) {
    const derived = deriveLegacy(label, headers);
    if ('manifest' in derived) {
      manifest = derived.manifest;
      oldScripts = true;
      // The line-per-document export check is Ferry's format; the scripts' exports are whole JSON documents.
      for (const path of jsonBodies.keys()) checked.delete(path);
      findings.push(...legacyFindings(manifest, headers, new Map([...jsonBodies].map(([path, digest]) => [path, digest.kept()])), ctx.log));
    } else {
      findings.push(derived.finding);
    }
  }
  if (manifest === undefined) {
    if (!findings.some((f) => f.entry === 'archive' || f.entry === MANIFEST_ENTRY)) findings.push({ entry: MANIFEST_ENTRY, problem: 'the archive has no manifest.json' });
  } else {
    const checker = new ManifestChecker(manifest, label);
    for (const { path, type, digest } of digests) {
      if (type !== 'file') {
        checker.markSeen(path);
        continue;
      }
      const problem = checker.compare(path, digest);
      if (problem !== undefined) findings.push({ entry: path, problem });
    }
    for (const missing of checker.missing()) findings.push({ entry: missing, problem: `entry ${missing} is listed in the manifest but not in the archive` });
  }
  findings.push(...audit.findings);
  if (manifest !== undefined && !oldScripts && !findings.some((f) => f.entry === 'archive')) findings.push(...audit.compare(manifest));
  for (const [entry, result] of checked) {
    for (const problem of result.problems) findings.push({ entry, problem });
    const count = result.count;
    const expected = count === undefined ? undefined : manifest?.stores[count.store]?.counts[count.object];
    if (count !== undefined && expected !== undefined && expected !== count.value) {
      findings.push({ entry, problem: `${entry}: holds ${count.value} documents, the manifest says ${expected}` });
    }
  }
  if (inner !== undefined && sidecar !== undefined && sidecar.entries.length > 0 && entryList(inner) !== entryList(sidecar)) {
    findings.push({ entry: 'manifest sidecar', problem: `${label}.manifest.json does not match the manifest inside the archive` });
  }

  const bad = new Set(findings.map((f) => f.entry));
  return {
    archive: label,
    ok: findings.length === 0,
    checkedAt: new Date().toISOString(),
    durationSeconds: (Date.now() - started) / 1000,
    archiveBytes,
    entryBytes: digests.reduce((sum, d) => sum + d.digest.size, 0),
    entries: digests.map((d) => ({ path: d.path, size: d.digest.size, ok: !bad.has(d.path) })),
    findings,
    oldScripts,
    warnings: [],
    ...(oldScripts && manifest !== undefined ? { stores: Object.keys(manifest.stores) } : {}),
  };
}

/** Verifies an archive file (decrypting it on the way when it is encrypted). */
export async function verifyArchive(ctx: OperationContext, archive: string): Promise<VerifyReport> {
  const sidecar = await manifestOf(archive, ctx.signal, { sidecarOnly: true }).catch(() => undefined);
  const report = await verifyWith(ctx, archive, (onEntry, options) => readArchive(archive, onEntry, { ...options, ...decryption(ctx, archive) }), sidecar);
  // A delta is only as good as its chain: a missing link is a finding of this archive too.
  const manifest = sidecar ?? await manifestOf(archive, ctx.signal, decryption(ctx, archive)).catch(() => undefined);
  if (manifest !== undefined && isDelta(manifest)) {
    const problems = await chainProblems(archive, manifest);
    report.findings.push(...problems.map((problem) => ({ entry: 'chain', problem })));
    report.ok = report.findings.length === 0;
  }
  if (!report.oldScripts && await stat(archive + CHECKSUM_SUFFIX).catch(() => undefined) === undefined) {
    const warning = `${basename(archive)} has no .sha256 sidecar: health cannot re-read it against one, nor sha256sum -c check a copy`;
    report.warnings.push(warning);
    ctx.log.warn(warning);
  }
  return report;
}

/**
 * Verifies tar.gz bytes while they are being written, so a backup is proven in the same pass.
 * `contentProven` may still grow while the archive is written (see StagedDump.contentProven).
 */
export function verifyWhileWriting(ctx: OperationContext, stream: Readable, label: string, contentProven: ReadonlySet<string>): Promise<VerifyReport> {
  return verifyWith(ctx, label, (onEntry, options) => readArchiveStream(stream, label, onEntry, options), undefined, contentProven);
}

function entryList(manifest: Manifest): string {
  return manifest.entries.map((e) => `${e.path}\t${e.type}\t${e.size}\t${e.sha256 ?? ''}`).sort().join('\n');
}

/** Keeps the outcome beside the archive, for list, health and prune. */
export async function recordVerification(ctx: OperationContext, archive: string, report: VerifyReport): Promise<void> {
  const record = { checkedAt: report.checkedAt, ok: report.ok, durationSeconds: report.durationSeconds, findings: report.findings, ...(report.oldScripts ? { oldScripts: true } : {}), ...(report.stores === undefined ? {} : { stores: report.stores }) };
  await writeFileAtomic(archive + VERIFY_SUFFIX, JSON.stringify(record, null, 2) + '\n')
    .catch((error: unknown) => ctx.log.warn(`could not record the verification beside ${archive}: ${(error as Error).message}`));
}

/** `latest`, a name or path, or `all` for every archive in the backup directory, newest first. */
export async function verify(ctx: OperationContext, reference: string): Promise<VerifyReport[]> {
  const archives = reference === 'all'
    ? (await catalog(ctx.config.backup.directory)).backups.map((b) => b.path)
    : [await locateArchive(reference, ctx.config.backup.directory)];
  if (archives.length === 0) {
    throw new FerryError('ARCHIVE_NOT_FOUND', `no backup in ${ctx.config.backup.directory}`, { hint: 'Run ferry backup first, or set BACKUP_DIRECTORY to where the archives are.' });
  }
  const reports: VerifyReport[] = [];
  for (const archive of archives) {
    ctx.progress.start(`verifying ${archive}`);
    const report = await verifyArchive(ctx, archive);
    await recordVerification(ctx, archive, report);
    ctx.progress.done(`${archive}: ${report.ok ? 'whole' : `${report.findings.length} problem(s)`}`);
    reports.push(report);
  }
  return reports;
}
