import { parseFamilies, updateMetricsFile, type Family } from './metrics.js';

/** One message a notifier tried to send. */
export interface NotificationAttempt {
  channel: string;
  ok: boolean;
}

const FAILURES = 'ferry_notification_failures_total';
const LAST_SUCCESS = 'ferry_notification_last_success';

function byChannel(family: Family | undefined): Map<string, number> {
  const values = new Map<string, number>();
  for (const sample of family?.samples ?? []) {
    const channel = /[{,]channel="([^"]*)"/.exec(sample)?.[1];
    const value = Number(sample.slice(sample.lastIndexOf(' ') + 1));
    if (channel !== undefined && Number.isFinite(value)) values.set(channel, value);
  }
  return values;
}

function family(name: string, type: 'counter' | 'gauge', help: string, values: Map<string, number>): Family {
  return {
    name,
    header: [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`],
    samples: [...values].sort(([a], [b]) => a.localeCompare(b)).map(([channel, value]) => `${name}{channel="${channel}"} ${value}`),
  };
}

/**
 * The notification families after these attempts: the failure counter carried on from the file (a
 * counter that survives runs; a deleted file restarts it, which Prometheus reads as a reset), and
 * per channel whether its last attempt worked. Every other family is kept as it was.
 */
export function mergeNotificationMetrics(existing: string, attempts: NotificationAttempt[]): string {
  const families = parseFamilies(existing);
  const failures = byChannel(families.find((f) => f.name === FAILURES));
  const lastSuccess = byChannel(families.find((f) => f.name === LAST_SUCCESS));
  const worked = new Map<string, boolean>();
  for (const { channel, ok } of attempts) {
    failures.set(channel, (failures.get(channel) ?? 0) + (ok ? 0 : 1));
    worked.set(channel, (worked.get(channel) ?? true) && ok);
  }
  for (const [channel, ok] of worked) lastSuccess.set(channel, ok ? 1 : 0);
  const fresh = new Map([
    [FAILURES, family(FAILURES, 'counter', 'Notifications (webhook, command, e-mail) that could not be sent, per channel.', failures)],
    [LAST_SUCCESS, family(LAST_SUCCESS, 'gauge', '1 when the last notification through this channel was sent, 0 when it failed.', lastSuccess)],
  ]);
  const merged = families.map((f) => fresh.get(f.name) ?? f);
  for (const [name, f] of fresh) if (!families.some((existingFamily) => existingFamily.name === name)) merged.push(f);
  return merged.map((f) => [...f.header, ...f.samples].join('\n')).join('\n') + '\n';
}

/** Records notification attempts in a metrics file shared with backup and health (same lock, same rename). */
export async function writeNotificationMetrics(path: string, attempts: NotificationAttempt[]): Promise<void> {
  if (attempts.length === 0) return;
  await updateMetricsFile(path, (existing) => mergeNotificationMetrics(existing, attempts));
}
