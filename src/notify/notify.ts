import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import type { NotifyConfig } from '../config/index.js';
import type { Logger } from '../stores/index.js';
import { writeNotificationMetrics } from '../health/notification-metrics.js';
import { sendEmail } from './email.js';
import { emailFor } from './messages.js';

/** What happened; decides which e-mail events apply. */
export type NotificationKind = 'backup_failed' | 'upload_failed' | 'backup_succeeded' | 'health_critical' | 'health_recovered' | 'anomaly' | 'test';

export interface NotificationEvent {
  command: string;
  outcome: 'success' | 'failure';
  kind: NotificationKind;
  archive?: string;
  size?: number;
  /** How long the run took; health's events have none (they report on backups, not on a run). */
  durationSeconds?: number;
  stores?: Record<string, { items: number; bytes: number }>;
  error?: { code: string; message: string; exitCode: number; hint?: string };
  /** Backups removed by retention in this run. */
  pruned?: string[];
  /** Health reasons or anomalies, one line each. */
  details?: string[];
  /** For a success: whether this run's daily digest is due (decided by the caller, who keeps the date). */
  digestDue?: boolean;
}

export interface ChannelResult {
  channel: 'webhook' | 'exec' | 'smtp';
  ok: boolean;
}

export interface NotifyOptions {
  /** The run's --metrics-file: each attempt is counted there, so a broken channel is itself alerted on. */
  metricsFile?: string | undefined;
}

/**
 * Tells a webhook, a command and/or an SMTP server how a run ended. A notification that fails or
 * times out is logged and never changes the run's own outcome; the results say which failed.
 */
export async function notify(config: NotifyConfig | undefined, event: NotificationEvent, log: Logger, options: NotifyOptions = {}): Promise<ChannelResult[]> {
  if (config === undefined) return [];
  const targets = event.kind === 'test' ? [config.on_failure, config.on_success] : [event.outcome === 'success' ? config.on_success : config.on_failure];
  const body = JSON.stringify({ ...event, host: hostname(), at: new Date().toISOString() });
  const timeoutMs = config.timeout_seconds * 1000;
  const jobs: Array<Promise<ChannelResult>> = [];
  for (const target of targets) {
    if (target?.webhook !== undefined) jobs.push(postWebhook(target.webhook, body, timeoutMs, log).then((ok) => ({ channel: 'webhook', ok })));
    if (target?.exec !== undefined) jobs.push(runHook(target.exec, body, event, timeoutMs, log).then((ok) => ({ channel: 'exec', ok })));
  }
  const message = config.smtp === undefined ? undefined : emailFor(config.smtp, config.environment, event);
  if (config.smtp !== undefined && message !== undefined) {
    const smtp = config.smtp;
    jobs.push(sendEmail(smtp, message, timeoutMs).then((outcome) => {
      if (outcome.ok) log.info(`notification e-mail sent to ${smtp.to.join(', ')}: ${message.subject}`);
      else log.warn(`notification e-mail to ${smtp.host} failed: ${outcome.reason ?? '?'}; the run's outcome is unchanged`);
      return { channel: 'smtp', ok: outcome.ok };
    }));
  }
  const results = await Promise.all(jobs);
  if (options.metricsFile !== undefined) {
    await writeNotificationMetrics(options.metricsFile, results).catch((error: unknown) => log.warn(`cannot record the notifications in ${options.metricsFile}: ${(error as Error).message}`));
  }
  return results;
}

async function postWebhook(url: string, body: string, timeoutMs: number, log: Logger): Promise<boolean> {
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'ferry' },
      body,
      signal: AbortSignal.timeout(timeoutMs),
    });
    await response.body?.cancel();
    if (!response.ok) log.warn(`notification webhook answered HTTP ${response.status}; the run's outcome is unchanged`);
    return response.ok;
  } catch (error) {
    const reason = (error as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs / 1000} s` : ((error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message);
    log.warn(`notification webhook failed: ${reason}; the run's outcome is unchanged`);
    return false;
  }
}

async function runHook(command: string[], body: string, event: NotificationEvent, timeoutMs: number, log: Logger): Promise<boolean> {
  const [program, ...args] = command as [string, ...string[]];
  return new Promise<boolean>((resolveHook) => {
    const child = spawn(program, args, {
      stdio: ['pipe', 'ignore', 'pipe'],
      env: { ...process.env, FERRY_COMMAND: event.command, FERRY_OUTCOME: event.outcome, FERRY_ARCHIVE: event.archive ?? '', FERRY_ERROR_CODE: event.error?.code ?? '' },
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-2000)));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      log.warn(`notification command ${program} did not finish within ${timeoutMs / 1000} s and was stopped`);
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      log.warn(`notification command ${program} could not start: ${error.message}`);
      resolveHook(false);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0 && code !== null) log.warn(`notification command ${program} exited ${code}: ${stderr.trim().split('\n').at(-1) ?? ''}`);
      resolveHook(code === 0);
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(body);
  });
}
