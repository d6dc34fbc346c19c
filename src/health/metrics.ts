import { writeFileAtomic } from '../archive/index.js';

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
}

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

/** Written beside and renamed into place, so the collector never reads half a file. */
export async function writeMetricsFile(path: string, input: MetricsInput): Promise<void> {
  await writeFileAtomic(path, renderMetrics(input), 0o644);
}
