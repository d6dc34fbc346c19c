import { open, readFile, rm, stat } from 'node:fs/promises';
import { writeFileAtomic } from '../archive/index.js';
import { FerryError } from '../errors/index.js';

export interface MetricsInput {
  /** Every sample is labelled with it: the backup directory, or the S3 remote. */
  location: 'local' | 'remote';
  backups: number;
  newest: { time: Date; size: number; durationSeconds: number | undefined; stores: Record<string, { items: number; bytes: number }> } | undefined;
  lastVerifiedAt: Date | undefined;
  healthStatus: number | undefined;
  lastRun: { at: Date; success: boolean } | undefined;
  /** The upload ferry backup made to storage.remote in this run, when there was one. */
  lastUpload?: { at: Date; success: boolean } | undefined;
  /** How long health's sha256 re-read of the newest archive took, when it ran. */
  checksumSeconds?: number | undefined;
  /** Objects whose count fell sharply in the newest backup, when health compared them. */
  anomalies?: Array<{ store: string; object: string }> | undefined;
}

/** The command writing the file: it replaces the families it owns and keeps every other one. */
export type MetricsWriter = 'backup' | 'health';

/** Families that describe the backup directory: both commands compute them from it, the last one wins. */
const CATALOG_FAMILIES = [
  'ferry_backup_archives', 'ferry_backup_last_success_timestamp_seconds', 'ferry_backup_last_size_bytes', 'ferry_backup_store_items',
  'ferry_backup_store_bytes', 'ferry_backup_last_duration_seconds', 'ferry_backup_last_verified_timestamp_seconds',
];

/** What each command owns; a family it owns but did not write this time is removed, another's never. */
export const OWNED_FAMILIES: Record<MetricsWriter, readonly string[]> = {
  backup: [...CATALOG_FAMILIES, 'ferry_backup_last_run_timestamp_seconds', 'ferry_backup_last_run_success', 'ferry_backup_last_upload_timestamp_seconds', 'ferry_backup_last_upload_success'],
  health: [...CATALOG_FAMILIES, 'ferry_health_status', 'ferry_health_checksum_seconds', 'ferry_backup_anomalies'],
};

interface Metric {
  name: string;
  help: string;
  samples: Array<{ labels?: Record<string, string>; value: number }>;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/** Prometheus text exposition format, for node_exporter's textfile collector. */
export function renderMetrics(input: MetricsInput): string {
  const seconds = (d: Date) => Math.round(d.getTime() / 1000);
  const metrics: Metric[] = [
    { name: 'ferry_backup_archives', help: 'Backups in the backup directory (location="local") or the S3 remote.', samples: [{ value: input.backups }] },
  ];
  if (input.newest !== undefined) {
    const newest = input.newest;
    metrics.push(
      { name: 'ferry_backup_last_success_timestamp_seconds', help: 'When the newest backup was taken.', samples: [{ value: seconds(newest.time) }] },
      { name: 'ferry_backup_last_size_bytes', help: 'Size of the newest backup archive.', samples: [{ value: newest.size }] },
      { name: 'ferry_backup_store_items', help: 'Rows, documents or folder entries per store in the newest backup.', samples: Object.entries(newest.stores).map(([store, s]) => ({ labels: { store }, value: s.items })) },
      { name: 'ferry_backup_store_bytes', help: 'Dumped bytes per store in the newest backup.', samples: Object.entries(newest.stores).map(([store, s]) => ({ labels: { store }, value: s.bytes })) },
    );
    if (newest.durationSeconds !== undefined) metrics.push({ name: 'ferry_backup_last_duration_seconds', help: 'How long the newest backup took.', samples: [{ value: newest.durationSeconds }] });
  }
  if (input.lastVerifiedAt !== undefined) metrics.push({ name: 'ferry_backup_last_verified_timestamp_seconds', help: 'When a backup last passed verification.', samples: [{ value: seconds(input.lastVerifiedAt) }] });
  if (input.healthStatus !== undefined) metrics.push({ name: 'ferry_health_status', help: 'ferry health result: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.', samples: [{ value: input.healthStatus }] });
  if (input.checksumSeconds !== undefined) metrics.push({ name: 'ferry_health_checksum_seconds', help: 'How long ferry health took to re-read the newest archive against its .sha256.', samples: [{ value: input.checksumSeconds }] });
  if (input.anomalies !== undefined) {
    metrics.push({
      name: 'ferry_backup_anomalies',
      help: 'Objects whose count fell sharply in the newest backup against the median of the ones before: the total, and 1 per object.',
      samples: [{ value: input.anomalies.length }, ...input.anomalies.map(({ store, object }) => ({ labels: { store, object }, value: 1 }))],
    });
  }
  if (input.lastRun !== undefined) {
    metrics.push(
      { name: 'ferry_backup_last_run_timestamp_seconds', help: 'When ferry backup last ran, successful or not.', samples: [{ value: seconds(input.lastRun.at) }] },
      { name: 'ferry_backup_last_run_success', help: '1 when the last ferry backup succeeded, 0 when it failed.', samples: [{ value: input.lastRun.success ? 1 : 0 }] },
    );
  }
  if (input.lastUpload !== undefined) {
    metrics.push(
      { name: 'ferry_backup_last_upload_timestamp_seconds', help: 'When ferry backup last tried to upload to storage.remote.', samples: [{ value: seconds(input.lastUpload.at) }] },
      { name: 'ferry_backup_last_upload_success', help: '1 when that upload succeeded, 0 when it failed (the local archive is kept).', samples: [{ value: input.lastUpload.success ? 1 : 0 }] },
    );
  }
  const lines: string[] = [];
  for (const metric of metrics) {
    lines.push(`# HELP ${metric.name} ${metric.help}`, `# TYPE ${metric.name} gauge`);
    for (const sample of metric.samples) {
      const labels = `{${Object.entries({ location: input.location, ...sample.labels }).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`;
      lines.push(`${metric.name}${labels} ${sample.value}`);
    }
  }
  return lines.join('\n') + '\n';
}

/** A text-format file cut into families: HELP and TYPE lines with their samples, in file order. */
export interface Family {
  name: string;
  header: string[];
  samples: string[];
}

export function parseFamilies(text: string): Family[] {
  const families: Family[] = [];
  const byName = new Map<string, Family>();
  const family = (name: string) => {
    let found = byName.get(name);
    if (found === undefined) {
      found = { name, header: [], samples: [] };
      byName.set(name, found);
      families.push(found);
    }
    return found;
  };
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const comment = /^# (?:HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line);
    if (comment !== null) {
      family(comment[1] as string).header.push(line);
      continue;
    }
    if (line.startsWith('#')) continue;
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line);
    if (sample !== null) family(sample[1] as string).samples.push(line);
  }
  return families;
}

function locationOf(sample: string): string | undefined {
  return /[{,]location="([^"]*)"/.exec(sample)?.[1];
}

/**
 * What the file holds after `writer` has written `input`: its own families for its location
 * replaced, everything else (the other command's families, another location's samples, lines
 * Ferry did not write) kept as it was.
 */
export function mergeMetrics(existing: string, writer: MetricsWriter, input: MetricsInput): string {
  const owned = new Set(OWNED_FAMILIES[writer]);
  const fresh = parseFamilies(renderMetrics(input));
  const freshByName = new Map(fresh.map((f) => [f.name, f]));
  const merged: Family[] = [];
  for (const family of parseFamilies(existing)) {
    const mine = owned.has(family.name);
    const kept = mine ? family.samples.filter((s) => locationOf(s) !== input.location) : family.samples;
    const added = freshByName.get(family.name);
    freshByName.delete(family.name);
    const samples = [...kept, ...(added?.samples ?? [])];
    if (samples.length > 0) merged.push({ name: family.name, header: added?.header ?? family.header, samples });
  }
  merged.push(...freshByName.values());
  return merged.map((f) => [...f.header, ...f.samples].join('\n')).join('\n') + (merged.length > 0 ? '\n' : '');
}

const LOCK_WAIT_MS = 10_000;
const LOCK_STALE_MS = 60_000;

/**
 * Read-merge-write under `<file>.lock`, so a backup and a health check sharing one file keep each
 * other's families; renamed into place, so the collector never reads half a file (it reads *.prom
 * only, never the lock). A lock left by a killed run is taken over after a minute.
 */
export async function writeMetricsFile(path: string, input: MetricsInput, writer: MetricsWriter): Promise<void> {
  await updateMetricsFile(path, (existing) => mergeMetrics(existing, writer, input));
}

/** The file's text replaced by `update(text)`, under the lock and renamed into place. */
export async function updateMetricsFile(path: string, update: (existing: string) => string): Promise<void> {
  const release = await lockFile(`${path}.lock`);
  try {
    const existing = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return '';
      throw error;
    });
    await writeFileAtomic(path, update(existing), 0o644);
  } finally {
    await release();
  }
}

async function lockFile(lock: string): Promise<() => Promise<void>> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      const handle = await open(lock, 'wx', 0o644);
      await handle.writeFile(String(process.pid));
      await handle.close();
      return () => rm(lock, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const held = await stat(lock).catch(() => undefined);
    if (held !== undefined && Date.now() - held.mtimeMs > LOCK_STALE_MS) {
      await rm(lock, { force: true });
      continue;
    }
    if (Date.now() > deadline) {
      throw new FerryError('BACKUP_LOCKED', `metrics file lock ${lock} is held by another ferry run for over ${LOCK_WAIT_MS / 1000} s`, {
        hint: 'Wait for the other run; remove the lock file if no ferry is running.',
      });
    }
    await new Promise((resolveLater) => setTimeout(resolveLater, 25 + Math.random() * 50));
  }
}
