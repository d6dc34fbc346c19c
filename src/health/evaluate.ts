import { formatBytes, formatDuration } from '../util/format.js';
import type { Anomaly } from './anomalies.js';

/** monitoring-plugins exit codes, the same numbers everywhere Ferry speaks to monitoring. */
export const HEALTH_STATUS = { OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3 } as const;
export type HealthStatusName = keyof typeof HEALTH_STATUS;

export interface HealthThresholds {
  maxAgeHours: number;
  criticalAgeHours: number;
  /** Newest below this share of the median of recent backups is suspicious. */
  minSizeRatio: number;
  minSizeBytes: number;
  /** Free space wanted, as a multiple of the newest backup's size. */
  spaceMargin: number;
  /** How many earlier backups the size median looks at. */
  recentCount: number;
}

export const DEFAULT_THRESHOLDS: HealthThresholds = {
  maxAgeHours: 26,
  criticalAgeHours: 50,
  minSizeRatio: 0.5,
  minSizeBytes: 1024,
  spaceMargin: 1.5,
  recentCount: 7,
};

export interface NewestBackupFacts {
  name: string;
  time: Date;
  size: number;
  gzipHeader: boolean;
  manifest: 'ok' | 'missing' | 'unreadable';
  checksumSidecar: boolean;
  /** Stores configured here that the newest backup does not hold, or entries it lacks. */
  missing: string[];
  /** Whether what it holds is known (a manifest, or verify's record of an old scripts' archive); else as manifest is ok. */
  contentsKnown?: boolean;
  verification: { checkedAt: string; ok: boolean; oldScripts?: boolean } | undefined;
  /** Problems a --deep verify found just now, when one ran. */
  deepFindings: string[] | undefined;
  /** A delta of incremental uploads (local backups only). */
  delta?: boolean;
  /** The archive re-read against its .sha256 just now; undefined with --quick or without a sidecar. */
  checksum?: ChecksumFacts | undefined;
}

export interface ChecksumFacts {
  ok: boolean;
  /** Bytes read (0 when only sidecars were compared) and how long it took. */
  bytes: number;
  seconds: number;
  detail: string;
}

export interface HealthFacts {
  directory: string;
  /** Sizes of the backups before the newest, newest first. */
  earlierSizes: number[];
  count: number;
  newest: NewestBackupFacts | undefined;
  /** Free space where the next backup goes; undefined for a remote, which has no such limit to read. */
  freeBytes: number | undefined;
  /** Counts of the newest backup against the median of the ones before (names compared, newest first). */
  anomalies?: { found: Anomaly[]; compared: string[]; unmatched?: string[] } | undefined;
  /** Delta backups whose base is not in the directory (or at the remote): they cannot be restored. */
  brokenChains?: Array<{ name: string; missing: string }>;
  /** Where the backups checked are; says how to put a missing one back. */
  location?: 'local' | 'remote';
  /** What dead runs left in the backup directory (temporary folders, .partial archives), with sizes. */
  leftovers?: Array<{ path: string; bytes: number }>;
}

export interface HealthCheck {
  name: string;
  status: HealthStatusName;
  message: string;
  recommendation?: string;
}

export interface HealthResult {
  status: HealthStatusName;
  exitCode: number;
  summary: string;
  checks: HealthCheck[];
  /** The newest backup's anomalies, when its counts were compared (see the anomalies check). */
  anomalies?: { backup: string; compared: string[]; found: Anomaly[]; unmatched?: string[] };
  /** The figures behind the messages, in seconds and bytes; absent when the backups could not be looked at. */
  figures?: HealthFigures;
}

export interface HealthFigures {
  location: string;
  backups: number;
  newest: { name: string; time: string; ageSeconds: number; size: number; verified: boolean } | undefined;
  /** Median size of the backups before the newest that the size check compares with. */
  medianSize: number | undefined;
  freeBytes: number | undefined;
  leftoverBytes: number;
}

function median(values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

const RANK: Record<HealthStatusName, number> = { OK: 0, WARNING: 1, UNKNOWN: 2, CRITICAL: 3 };

/** Turns facts gathered from the backup directory into checks and one status: a pure function. */
export function evaluateHealth(facts: HealthFacts, t: HealthThresholds, now: Date): HealthResult {
  const checks: HealthCheck[] = [];
  const newest = facts.newest;
  if (newest === undefined) {
    checks.push({ name: 'presence', status: 'CRITICAL', message: `no backup in ${facts.directory}`, recommendation: 'Run ferry backup, and check that its cron job or systemd timer runs.' });
    return { ...finish(checks, `no backup in ${facts.directory}`), figures: figuresOf(facts, undefined, now) };
  }
  const ageHours = (now.getTime() - newest.time.getTime()) / 3_600_000;
  const age = formatDuration(ageHours * 3600);
  if (ageHours > t.criticalAgeHours) {
    checks.push({ name: 'age', status: 'CRITICAL', message: `last backup ${age} ago, over ${t.criticalAgeHours} h`, recommendation: 'Backups have stopped: check the backup job and its log (journalctl -u ferry-backup, or the cron mail).' });
  } else if (ageHours > t.maxAgeHours) {
    checks.push({ name: 'age', status: 'WARNING', message: `last backup ${age} ago, over ${t.maxAgeHours} h`, recommendation: 'The last scheduled backup is missing: check the backup job and its log.' });
  } else {
    checks.push({ name: 'age', status: 'OK', message: `last backup ${age} ago` });
  }

  const typical = median(facts.earlierSizes.slice(0, t.recentCount));
  // A delta with no database and few changed files is small by design: only a full has a floor.
  if (newest.size < t.minSizeBytes && newest.delta !== true) {
    checks.push({ name: 'size', status: 'WARNING', message: `newest backup is ${formatBytes(newest.size)}, under ${formatBytes(t.minSizeBytes)}`, recommendation: 'Check that the backup saw the right databases (ferry inspect latest) and that no store came back empty.' });
  } else if (typical !== undefined && newest.size < typical * t.minSizeRatio) {
    checks.push({ name: 'size', status: 'WARNING', message: `newest backup is ${formatBytes(newest.size)}, under ${Math.round(t.minSizeRatio * 100)}% of the median ${formatBytes(typical)} of the ones before`, recommendation: 'Compare ferry inspect of this backup with an earlier one: a table or collection may be missing or emptied.' });
  } else {
    checks.push({ name: 'size', status: 'OK', message: `${formatBytes(newest.size)}${typical === undefined ? '' : `, median before ${formatBytes(typical)}`}` });
  }

  if (!newest.gzipHeader) {
    checks.push({ name: 'integrity', status: 'CRITICAL', message: `${newest.name} does not start like a gzip (or age) file`, recommendation: 'The newest backup is unreadable: run ferry verify on it, and restore from an older one if needed.' });
  } else if (newest.deepFindings !== undefined && newest.deepFindings.length > 0) {
    checks.push({ name: 'integrity', status: 'CRITICAL', message: `${newest.name} is not whole: ${newest.deepFindings[0]}`, recommendation: 'Do not rely on this backup; run a new backup now and check the disk that holds the backups.' });
  } else if (newest.checksum?.ok === false) {
    checks.push({ name: 'integrity', status: 'CRITICAL', message: `${newest.name} does not match its .sha256: ${newest.checksum.detail}`, recommendation: 'Do not rely on this backup: run ferry verify on it, a new backup now, and check the disk that holds the backups.' });
  } else if (newest.verification?.ok === false) {
    checks.push({ name: 'integrity', status: 'CRITICAL', message: `${newest.name} failed verification at ${newest.verification.checkedAt}`, recommendation: 'Run ferry verify latest for the details, and a new backup.' });
  } else if (newest.manifest === 'unreadable') {
    checks.push({ name: 'integrity', status: 'CRITICAL', message: `the manifest sidecar of ${newest.name} is unreadable`, recommendation: 'Run ferry verify latest; the archive may be damaged.' });
  } else if (newest.manifest === 'missing' && newest.verification?.oldScripts === true) {
    checks.push({ name: 'integrity', status: 'OK', message: `made by the old scripts: no checksums; read whole by ferry verify at ${newest.verification.checkedAt}` });
  } else if (!newest.checksumSidecar && facts.location === 'remote') {
    checks.push({ name: 'integrity', status: 'WARNING', message: `${newest.name} has no checksum sidecar: its upload did not finish`, recommendation: 'Run ferry push on the server: it uploads what the remote lacks, .sha256 last.' });
  } else if (newest.manifest === 'missing' || !newest.checksumSidecar) {
    checks.push({ name: 'integrity', status: 'WARNING', message: `${newest.name} has no ${newest.manifest === 'missing' ? 'manifest' : 'checksum'} sidecar${newest.checksum === undefined ? '' : `; ${checksumSummary(newest.checksum)}`}`, recommendation: 'Run ferry health --deep (or ferry verify latest) to check the archive itself.' });
  } else {
    const verified = newest.deepFindings !== undefined ? 'verified just now' : newest.verification?.ok === true ? `verified ${newest.verification.checkedAt}` : 'header and sidecars present, not verified';
    checks.push({ name: 'integrity', status: 'OK', message: newest.checksum === undefined ? verified : `${checksumSummary(newest.checksum)}; ${verified}` });
  }

  if (newest.missing.length > 0) {
    checks.push({ name: 'contents', status: 'CRITICAL', message: `newest backup lacks ${newest.missing.join(', ')}`, recommendation: 'A configured store was not backed up: check the backup log for that store.' });
  } else if (newest.contentsKnown ?? newest.manifest === 'ok') {
    checks.push({ name: 'contents', status: 'OK', message: 'every configured store is in the newest backup' });
  }

  const broken = facts.brokenChains ?? [];
  if (broken.length > 0) {
    const first = broken[0] as { name: string; missing: string };
    checks.push({
      name: 'chains', status: 'CRITICAL',
      message: `${first.missing} is missing: ${first.name} is a delta built on it and cannot be restored${broken.length > 1 ? ` (and ${broken.length - 1} more broken chain${broken.length > 2 ? 's' : ''}: ${broken.slice(1).map((b) => `${b.name} needs ${b.missing}`).join(', ')})` : ''}`,
      recommendation: facts.location === 'remote'
        ? `Put ${first.missing} back at ${facts.directory} (ferry push ${first.missing} from a machine that has it); until then ${first.name} can only be restored from a local copy of its chain.`
        : `Put ${first.missing} back into the backup directory (ferry pull ${first.missing}); the next ferry backup writes a full uploads set, since it cannot build on a broken chain.`,
    });
  }

  if (facts.anomalies !== undefined && facts.anomalies.compared.length > 0) checks.push(anomalyCheck(facts.anomalies.found, facts.anomalies.compared, facts.anomalies.unmatched ?? []));

  if (facts.freeBytes !== undefined) checks.push(spaceCheck(facts.freeBytes, newest.size, facts.directory, t.spaceMargin));
  if (facts.leftovers !== undefined && facts.leftovers.length > 0) {
    const bytes = facts.leftovers.reduce((sum, l) => sum + l.bytes, 0);
    checks.push({
      name: 'leftovers', status: 'WARNING',
      message: `${facts.leftovers.length} left by interrupted runs, ${formatBytes(bytes)}: ${facts.leftovers.slice(0, 3).map((l) => l.path).join(', ')}${facts.leftovers.length > 3 ? ', …' : ''}`,
      recommendation: 'The next ferry backup removes them (and says so); check why a run was killed (OOM, a full disk, a reboot).',
    });
  }

  const verified = newest.deepFindings !== undefined || newest.verification?.ok === true ? 'verified' : 'not verified';
  return { ...finish(checks, `last backup ${age} ago, ${formatBytes(newest.size)}, ${verified}`), figures: figuresOf(facts, typical, now) };
}

function figuresOf(facts: HealthFacts, medianSize: number | undefined, now: Date): HealthFigures {
  const newest = facts.newest;
  return {
    location: facts.directory,
    backups: facts.count,
    newest: newest === undefined ? undefined : {
      name: newest.name,
      time: newest.time.toISOString(),
      ageSeconds: Math.round((now.getTime() - newest.time.getTime()) / 1000),
      size: newest.size,
      verified: newest.deepFindings !== undefined ? newest.deepFindings.length === 0 : newest.verification?.ok === true,
    },
    medianSize,
    freeBytes: facts.freeBytes,
    leftoverBytes: (facts.leftovers ?? []).reduce((sum, l) => sum + l.bytes, 0),
  };
}

function checksumSummary(checksum: ChecksumFacts): string {
  if (checksum.bytes === 0) return `${checksum.detail}, in ${formatDuration(checksum.seconds)}`;
  return `sha256 matches its .sha256 sidecar, ${formatBytes(checksum.bytes)} re-read in ${formatDuration(checksum.seconds)}`;
}

function anomalyCheck(found: Anomaly[], compared: string[], unmatched: string[]): HealthCheck {
  const against = compared.length === 1 ? compared[0] : `the median of ${compared.length} backups, ${compared[compared.length - 1]} to ${compared[0]}`;
  // A misspelt name in health.anomalies is a configuration problem, not one of the backups: said, never a WARNING.
  const typos = unmatched.length === 0 ? undefined : `No backup compared holds ${unmatched.join(', ')}: check the spelling in health.anomalies (ferry inspect latest lists the tables and collections).`;
  if (found.length === 0) return { name: 'anomalies', status: 'OK', message: `no count fell sharply against ${against}`, ...(typos === undefined ? {} : { recommendation: typos }) };
  const named = found.slice(0, 3).map((a) => `${a.store} ${a.object} ${a.disappeared ? `${a.before} → gone` : `${a.before} → ${a.after}`}`).join('; ');
  return {
    name: 'anomalies',
    status: 'WARNING',
    message: `${named}${found.length > 3 ? ` (and ${found.length - 3} more)` : ''}, against ${against}`,
    recommendation: `If this was not intended (a DELETE without WHERE, a dropped table), keep the backups before it and restore from one (ferry list, ferry inspect); if it was, say so for that object in health.anomalies.${typos === undefined ? '' : ` ${typos}`}`,
  };
}

/** The check could not look at the backups at all: monitoring-plugins' UNKNOWN, not a verdict on them. */
export function unknownHealth(problem: { message: string; recommendation: string }): HealthResult {
  return finish([{ name: 'presence', status: 'UNKNOWN', message: problem.message, recommendation: problem.recommendation }], problem.message);
}

function spaceCheck(free: number, newestSize: number, directory: string, margin: number): HealthCheck {
  if (free < newestSize) {
    return { name: 'space', status: 'CRITICAL', message: `${formatBytes(free)} free in ${directory}, less than one backup (${formatBytes(newestSize)})`, recommendation: 'The next backup will fail: free space or lower the retention (ferry prune --dry-run shows what would go).' };
  }
  if (free < newestSize * margin) {
    return { name: 'space', status: 'WARNING', message: `${formatBytes(free)} free in ${directory}, under ${margin}× the last backup`, recommendation: 'Free space soon, or lower the retention.' };
  }
  return { name: 'space', status: 'OK', message: `${formatBytes(free)} free` };
}

function finish(checks: HealthCheck[], okSummary: string): HealthResult {
  const worst = checks.reduce<HealthCheck | undefined>((w, c) => (w === undefined || RANK[c.status] > RANK[w.status] ? c : w), undefined);
  const status = worst?.status ?? 'OK';
  const detail = status === 'OK' || worst === undefined ? okSummary : worst.message;
  return { status, exitCode: HEALTH_STATUS[status], summary: `FERRY ${status} - ${detail}`, checks };
}
