import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import type { NotifyConfig } from '../config/index.js';
import type { Logger } from '../stores/index.js';

export interface NotificationEvent {
  command: string;
  outcome: 'success' | 'failure';
  archive?: string;
  size?: number;
  durationSeconds: number;
  stores?: Record<string, { items: number; bytes: number }>;
  error?: { code: string; message: string; exitCode: number };
}

/**
 * Tells a webhook and/or a command how a run ended. A notification that fails or times out is
 * logged and never changes the run's own outcome.
 */
export async function notify(config: NotifyConfig | undefined, event: NotificationEvent, log: Logger): Promise<void> {
  const target = event.outcome === 'success' ? config?.on_success : config?.on_failure;
  if (config === undefined || target === undefined) return;
  const body = JSON.stringify({ ...event, host: hostname(), at: new Date().toISOString() });
  const timeoutMs = config.timeout_seconds * 1000;
  const jobs: Array<Promise<void>> = [];
  if (target.webhook !== undefined) jobs.push(postWebhook(target.webhook, body, timeoutMs, log));
  if (target.exec !== undefined) jobs.push(runHook(target.exec, body, event, timeoutMs, log));
  await Promise.all(jobs);
}

async function postWebhook(url: string, body: string, timeoutMs: number, log: Logger): Promise<void> {
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'ferry' },
      body,
      signal: AbortSignal.timeout(timeoutMs),
    });
    await response.body?.cancel();
    if (!response.ok) log.warn(`notification webhook answered HTTP ${response.status}; the run's outcome is unchanged`);
  } catch (error) {
    const reason = (error as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs / 1000} s` : ((error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message);
    log.warn(`notification webhook failed: ${reason}; the run's outcome is unchanged`);
  }
}

async function runHook(command: string[], body: string, event: NotificationEvent, timeoutMs: number, log: Logger): Promise<void> {
  const [program, ...args] = command as [string, ...string[]];
  await new Promise<void>((resolveHook) => {
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
      resolveHook();
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0 && code !== null) log.warn(`notification command ${program} exited ${code}: ${stderr.trim().split('\n').at(-1) ?? ''}`);
      resolveHook();
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(body);
  });
}
