import type { Readable } from 'node:stream';
import {
  DigestStream, LEGACY_FORMAT_VERSION, ManifestChecker, MANIFEST_ENTRY, parseManifest, readArchive, readSmallEntry, VERIFY_SUFFIX,
  writeFileAtomic, type EntryDigest, type Manifest,
} from '../archive/index.js';
import { FerryError, isFerryError } from '../errors/index.js';
import { CONTENT_CHECKERS } from '../stores/index.js';
import { catalog, locateArchive, manifestOf } from './catalog.js';
import type { OperationContext } from './context.js';

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
}

/**
 * Reads an archive once and proves it: every entry's size and sha256 against the manifest, nothing
 * missing or extra, the PostgreSQL dump readable to its end, every BSON document parsing and as many
 * as recorded, JSON exports parsing. Collects every finding; records the outcome beside the archive.
 */
export async function verifyArchive(ctx: OperationContext, archive: string, known?: Manifest): Promise<VerifyReport> {
  const started = Date.now();
  const findings: VerifyFinding[] = [];
  const digests: Array<{ path: string; type: string; digest: EntryDigest }> = [];
  const contentProblems = new Map<string, string[]>();
  let inner: Manifest | undefined;
  let archiveBytes = 0;
  // Content checks need the manifest's counts; Ferry writes manifest.json last, so its sidecar (or
  // the archive's own copy, read first) supplies them.
  const expected = known ?? (await manifestOf(archive, ctx.signal).catch(() => undefined));
  const checkCtx = { signal: ctx.signal, log: ctx.log, pgBinDir: ctx.config.postgres?.bin_dir, pgExec: ctx.config.postgres?.exec };
  try {
    await readArchive(archive, async (header, data) => {
      if (header.path === MANIFEST_ENTRY) {
        const text = (await readSmallEntry(data)).toString('utf8');
        try {
          inner = parseManifest(text, archive);
        } catch (error) {
          if (!isFerryError(error)) throw error;
          findings.push({ entry: MANIFEST_ENTRY, problem: error.message });
        }
        return;
      }
      const digest = new DigestStream();
      const flowing = (data as Readable).pipe(digest);
      const checker = header.type === 'file' && expected !== undefined ? CONTENT_CHECKERS.find((c) => c.accepts(header.path)) : undefined;
      if (checker !== undefined && expected !== undefined) {
        const problems = await checker.check(header.path, flowing, expected, checkCtx);
        if (problems.length > 0) contentProblems.set(header.path, problems);
      } else {
        flowing.resume();
        await new Promise((resolveEnd) => flowing.once('end', resolveEnd));
      }
      digests.push({ path: header.path, type: header.type, digest: digest.digest() });
    }, { signal: ctx.signal, onCompressedBytes: (n) => {
      archiveBytes = n;
      ctx.progress.update(n);
    } });
  } catch (error) {
    if (!isFerryError(error) || error.code === 'INTERRUPTED' || error.code === 'ARCHIVE_NOT_FOUND') throw error;
    findings.push({ entry: 'archive', problem: error.message });
  }
  const manifest = inner ?? (expected?.formatVersion === LEGACY_FORMAT_VERSION ? expected : undefined);
  if (manifest === undefined) {
    if (!findings.some((f) => f.entry === 'archive')) findings.push({ entry: MANIFEST_ENTRY, problem: 'the archive has no manifest.json' });
  } else {
    const checker = new ManifestChecker(manifest, archive);
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
  for (const [entry, problems] of contentProblems) for (const problem of problems) findings.push({ entry, problem });
  if (inner !== undefined && expected !== undefined && known === undefined && entryList(inner) !== entryList(expected)) {
    findings.push({ entry: 'manifest sidecar', problem: `${archive}.manifest.json does not match the manifest inside the archive` });
  }

  const bad = new Set(findings.map((f) => f.entry));
  const report: VerifyReport = {
    archive,
    ok: findings.length === 0,
    checkedAt: new Date().toISOString(),
    durationSeconds: (Date.now() - started) / 1000,
    archiveBytes,
    entryBytes: digests.reduce((sum, d) => sum + d.digest.size, 0),
    entries: digests.map((d) => ({ path: d.path, size: d.digest.size, ok: !bad.has(d.path) })),
    findings,
  };
  return report;
}

function entryList(manifest: Manifest): string {
  return manifest.entries.map((e) => `${e.path}\t${e.type}\t${e.size}\t${e.sha256 ?? ''}`).sort().join('\n');
}

/** Keeps the outcome beside the archive, for list, health and prune. */
export async function recordVerification(ctx: OperationContext, archive: string, report: VerifyReport): Promise<void> {
  const record = { checkedAt: report.checkedAt, ok: report.ok, durationSeconds: report.durationSeconds, findings: report.findings };
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
