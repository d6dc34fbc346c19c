import { hostname } from 'node:os';
import type { SmtpConfig } from '../config/index.js';
import { formatBytes, formatDuration } from '../util/format.js';
import type { EmailMessage } from './email.js';
import type { NotificationEvent } from './notify.js';

/** The command that shows the problem on the server, per kind of event. */
const LOOK_WITH: Record<NotificationEvent['kind'], string> = {
  backup_failed: 'ferry backup --verbose (run it by hand), then ferry health',
  upload_failed: 'ferry list --remote, then ferry push',
  backup_succeeded: 'ferry list',
  health_critical: 'ferry health --deep',
  health_recovered: 'ferry health',
  anomaly: 'ferry health --json, then ferry inspect latest',
  test: 'ferry notify test',
};

/**
 * The e-mail for an event, or undefined when the configured events do not ask for one. Subjects
 * carry host, environment and outcome, so a mailbox rule or a glance is enough.
 */
export function emailFor(smtp: SmtpConfig, environment: string | undefined, event: NotificationEvent): EmailMessage | undefined {
  const where = environment === undefined ? hostname() : `${hostname()} (${environment})`;
  const title = titleFor(smtp, event);
  if (title === undefined) return undefined;
  const lines = [
    `${title} on ${where} at ${new Date().toISOString()}.`,
    '',
    ...(event.error === undefined ? [] : [`Error ${event.error.code}: ${event.error.message}`, ...(event.error.hint === undefined ? [] : [`Hint: ${event.error.hint}`]), '']),
    ...(event.details ?? []).map((d) => `- ${d}`),
    ...(event.details === undefined || event.details.length === 0 ? [] : ['']),
    ...(event.archive === undefined ? [] : [`Archive: ${event.archive}${event.size === undefined ? '' : ` (${formatBytes(event.size)})`}`]),
    ...(event.stores === undefined ? [] : Object.entries(event.stores).map(([store, s]) => `  ${store}: ${s.items} items, ${formatBytes(s.bytes)}`)),
    ...(event.pruned === undefined || event.pruned.length === 0 ? [] : [`Removed by retention: ${event.pruned.join(', ')}`]),
    ...(event.durationSeconds === undefined ? [] : [`Duration: ${formatDuration(event.durationSeconds)}`]),
    '',
    `To look: ${LOOK_WITH[event.kind]}`,
  ];
  return { subject: `[ferry] ${where}: ${title}`, text: lines.join('\n') + '\n' };
}

function titleFor(smtp: SmtpConfig, event: NotificationEvent): string | undefined {
  const on = smtp.events;
  switch (event.kind) {
    case 'backup_failed':
      return on.backup_failed ? `backup FAILED (${event.error?.code ?? '?'})` : undefined;
    case 'upload_failed':
      return on.upload_failed ? `upload FAILED (${event.error?.code ?? '?'}), backup kept locally` : undefined;
    case 'health_critical':
      return on.health_critical ? 'health CRITICAL' : undefined;
    case 'health_recovered':
      return on.health_critical ? 'health OK again' : undefined;
    case 'anomaly':
      return on.anomaly ? `data anomaly: ${event.details?.[0] ?? 'a table or collection shrank'}` : undefined;
    case 'test':
      return 'test message';
    case 'backup_succeeded': {
      const pruned = event.pruned ?? [];
      if (on.retention_removed && pruned.length > 0) return `backup OK, retention removed ${pruned.length} backup${pruned.length === 1 ? '' : 's'}`;
      if (on.daily_digest && event.digestDue === true) return 'daily summary: backup OK';
      return undefined;
    }
  }
}
