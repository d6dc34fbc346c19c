import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { removeDeadRunFolders, runFolder } from './run-folders.js';
import {
  CHECKSUM_SUFFIX, DigestStream, drain, LEGACY_FORMAT_VERSION, ManifestChecker, MANIFEST_ENTRY, MANIFEST_SUFFIX, parseManifest, readArchiveStream, readSmallEntry, VERIFY_SUFFIX,
  type ArchiveEntryHeader, type EntryDigest, type EntryHandler, type Manifest, type ReadArchiveOptions,
} from '../archive/index.js';
import { FerryError, isFerryError } from '../errors/index.js';
import { CONTENT_CHECKERS, type ContentCheckResult } from '../stores/index.js';
import type { Repository } from '../repository/index.js';
import { catalog, locateArchive, localBackupAt, recordedSha256, sha256Of } from './catalog.js';
import { chainOrProblem, isDelta, type ChainLink } from './chain.js';
import type { OperationContext } from './context.js';
import { decryption } from './keys.js';
import { findCompleteBackup, localRepository, withRemote } from './remote.js';
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
async function verifyWith(ctx: OperationContext, label: string, read: Reader, sidecar: Manifest | undefined, contentProven?: ReadonlySet<string>): Promise<{ report: VerifyReport; manifest: Manifest | undefined }> {
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
  const tempRoot = ctx.config.backup.temp_directory ?? tmpdir();
  await removeDeadRunFolders(tempRoot, ctx.log);
  const tempDir = await runFolder(tempRoot, 'verify');
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
  const report: VerifyReport = {
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
  return { report, manifest };
}

/**
 * Verifies a backup where it is kept, streaming it (decrypted on the way when it is encrypted) without
 * storing it; a delta's chain is checked in the same repository.
 */
export async function verifyBackup(ctx: OperationContext, repository: Repository, name: string): Promise<VerifyReport> {
  const label = repository.pathOf(name);
  const sidecarText = await repository.readSidecar(name, MANIFEST_SUFFIX);
  let sidecar: Manifest | undefined;
  try {
    sidecar = sidecarText === undefined ? undefined : parseManifest(sidecarText.toString('utf8'), label + MANIFEST_SUFFIX);
  } catch (error) {
    if (!isFerryError(error)) throw error;
  }
  const { decrypt } = decryption(ctx, name);
  const { report, manifest } = await verifyWith(ctx, label, async (onEntry, options) => {
    const opened = await repository.readArchive(name);
    const source = decrypt === undefined ? opened : await decrypt(opened).catch((error: unknown) => {
      opened.destroy();
      throw error;
    });
    await readArchiveStream(source, label, onEntry, options);
  }, sidecar);
  // A delta is only as good as its chain: a missing link is a finding of this archive too.
  const described = sidecar ?? manifest;
  if (described !== undefined && isDelta(described)) {
    const chain = await chainOrProblem(repository, name, described);
    const problems = typeof chain === 'string' ? [chain] : await linkChecksumProblems(ctx, repository, name, chain);
    report.findings.push(...problems.map((problem) => ({ entry: 'chain', problem })));
    report.ok = report.findings.length === 0;
  }
  if (!report.oldScripts && await repository.readSidecar(name, CHECKSUM_SUFFIX) === undefined) {
    const warning = `${name} has no .sha256 sidecar: health cannot re-read it against one, nor sha256sum -c check a copy`;
    report.warnings.push(warning);
    ctx.log.warn(warning);
  }
  return report;
}

/**
 * The earlier links of a delta's chain, each re-read against its .sha256 sidecar: a base that is
 * present but was cut short or changed since it was written makes the delta unrestorable too.
 */
async function linkChecksumProblems(ctx: OperationContext, repository: Repository, name: string, links: readonly ChainLink[]): Promise<string[]> {
  const problems: string[] = [];
  for (const link of links) {
    let recorded: string | undefined;
    let problem: string | undefined;
    try {
      recorded = await recordedSha256(repository, link.name);
    } catch (error) {
      // A sidecar that holds no sha256.
      if (!isFerryError(error)) throw error;
      problem = error.message;
    }
    if (recorded !== undefined) {
      const read = await sha256Of(ctx, repository, link.name);
      if ('error' in read) problem = `cannot be read to its end (${read.error})`;
      else if (read.sha256 !== recorded) problem = 'no longer matches its .sha256 sidecar (cut short or changed since it was written)';
    }
    if (problem !== undefined) problems.push(`archive ${link.name}, a link of the chain of ${name}, ${problem}: ${name} cannot be restored`);
  }
  return problems;
}

/** Verifies an archive file: the backup of that name in the directory that holds it. */
export function verifyArchive(ctx: OperationContext, archive: string): Promise<VerifyReport> {
  const { repository, name } = localBackupAt(archive);
  return verifyBackup(ctx, repository, name);
}

/**
 * Verifies tar.gz bytes while they are being written, so a backup is proven in the same pass.
 * `contentProven` may still grow while the archive is written (see StagedDump.contentProven).
 */
export async function verifyWhileWriting(ctx: OperationContext, stream: Readable, label: string, contentProven: ReadonlySet<string>): Promise<VerifyReport> {
  return (await verifyWith(ctx, label, (onEntry, options) => readArchiveStream(stream, label, onEntry, options), undefined, contentProven)).report;
}

function entryList(manifest: Manifest): string {
  return manifest.entries.map((e) => `${e.path}\t${e.type}\t${e.size}\t${e.sha256 ?? ''}`).sort().join('\n');
}

/** Keeps the outcome beside the archive (in the same repository), for list, health and prune. */
export async function recordVerification(ctx: OperationContext, repository: Repository, name: string, report: VerifyReport): Promise<void> {
  const record = { checkedAt: report.checkedAt, ok: report.ok, durationSeconds: report.durationSeconds, findings: report.findings, ...(report.oldScripts ? { oldScripts: true } : {}), ...(report.stores === undefined ? {} : { stores: report.stores }) };
  await repository.writeSidecar(name, VERIFY_SUFFIX, JSON.stringify(record, null, 2) + '\n')
    .catch((error: unknown) => ctx.log.warn(`could not record the verification beside ${repository.pathOf(name)}: ${(error as Error).message}`));
}

/**
 * `latest`, a name or path, or `all` for every archive in the backup directory, newest first. With
 * `remote`, the copies at storage.remote: latest is the newest complete one, and each is streamed
 * through the verifier without being stored (restic's check --read-data).
 */
export async function verify(ctx: OperationContext, reference: string, options: { remote?: boolean } = {}): Promise<VerifyReport[]> {
  if (options.remote === true) {
    return withRemote(ctx, async (remote) => {
      const names = reference === 'all' ? await completeNames(ctx, remote) : [(await findCompleteBackup(ctx, remote, reference)).name];
      return verifyEach(ctx, remote, names);
    });
  }
  if (reference !== 'all') {
    const { repository, name } = localBackupAt(await locateArchive(reference, ctx.config.backup.directory));
    return verifyEach(ctx, repository, [name]);
  }
  return verifyEach(ctx, localRepository(ctx), (await catalog(ctx.config.backup.directory)).backups.map((b) => b.name));
}

/** As for latest and a name: a remote backup without its .sha256 is an upload that did not finish, not one to pass as whole. */
async function completeNames(ctx: OperationContext, remote: Repository): Promise<string[]> {
  const { backups } = await remote.catalog();
  for (const skipped of backups.filter((b) => !b.hasChecksum)) ctx.log.warn(`${skipped.name} at ${remote.where} is incomplete (no .sha256 sidecar): skipped`);
  return backups.filter((b) => b.hasChecksum).map((b) => b.name);
}

async function verifyEach(ctx: OperationContext, repository: Repository, names: string[]): Promise<VerifyReport[]> {
  if (names.length === 0) {
    throw new FerryError('ARCHIVE_NOT_FOUND', `no backup in ${repository.where}`, { hint: 'Run ferry backup first, or set BACKUP_DIRECTORY to where the archives are.' });
  }
  const reports: VerifyReport[] = [];
  for (const name of names) {
    const label = repository.pathOf(name);
    ctx.progress.start(`verifying ${label}`);
    const report = await verifyBackup(ctx, repository, name);
    await recordVerification(ctx, repository, name, report);
    ctx.progress.done(`${label}: ${report.ok ? 'whole' : `${report.findings.length} problem(s)`}`);
    reports.push(report);
  }
  return reports;
}
