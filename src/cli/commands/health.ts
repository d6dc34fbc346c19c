import { FerryError } from '../../errors/index.js';
import { HEALTH_STATUS, type HealthResult, type HealthThresholds } from '../../health/index.js';
import { firstAnomalyNotice, health } from '../../ops/health.js';
import { notifyHealth } from '../../notify/health-notice.js';
import { jsonDocument } from '../render/json.js';
import type { Session } from '../session.js';
import { wantsColour } from '../render/colour.js';

export interface HealthCommandOptions {
  maxAge: number;
  criticalAge: number;
  minSizeRatio: number;
  minSize: number;
  spaceMargin: number;
  deep?: boolean;
  quick?: boolean;
  remote?: boolean;
  metricsFile?: string;
}

/**
 * check-backup-health.sh's MAX_AGE_HOURS and MIN_SIZE_KB (kibibytes, as `du -k`), used for the
 * thresholds not given on the command line.
 */
export function withScriptThresholds(options: HealthCommandOptions, givenOnCommandLine: (option: 'maxAge' | 'minSize') => boolean, env: NodeJS.ProcessEnv): HealthCommandOptions {
  const read = (name: string, unit: string): number | undefined => {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') return undefined;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < 0) throw new FerryError('CONFIG_INVALID', `environment variable ${name}: expected a number of ${unit}`, { hint: `Set ${name} to a number, or unset it and use the command-line option.` });
    return n;
  };
  const maxAge = givenOnCommandLine('maxAge') ? undefined : read('MAX_AGE_HOURS', 'hours');
  const minSizeKb = givenOnCommandLine('minSize') ? undefined : read('MIN_SIZE_KB', 'kibibytes');
  return { ...options, ...(maxAge === undefined ? {} : { maxAge }), ...(minSizeKb === undefined ? {} : { minSize: minSizeKb * 1024 }) };
}

/** Anything that stops the check itself (configuration included) is UNKNOWN, in the plugin's own format. */
export function reportUnknown(error: FerryError, json: boolean): number {
  const summary = `FERRY UNKNOWN - ${error.message}`;
  if (json) process.stdout.write(jsonDocument(healthJson({ status: 'UNKNOWN', exitCode: HEALTH_STATUS.UNKNOWN, summary, checks: [{ name: 'presence', status: 'UNKNOWN', message: error.message, ...(error.hint === undefined ? {} : { recommendation: error.hint }) }] })) + '\n');
  else process.stdout.write(`${summary}\n  ${error.hint ?? ''}\n`);
  return HEALTH_STATUS.UNKNOWN;
}

const COLOURS: Record<string, string> = { OK: '\x1b[32m', WARNING: '\x1b[33m', CRITICAL: '\x1b[31m', UNKNOWN: '\x1b[35m' };

/** Speaks the monitoring-plugins convention: the summary line first, exit 0/1/2/3. */
export async function healthCommand(session: Session, options: HealthCommandOptions): Promise<number> {
  const { output } = session;
  const thresholds: Partial<HealthThresholds> = {
    maxAgeHours: options.maxAge,
    criticalAgeHours: options.criticalAge,
    minSizeRatio: options.minSizeRatio,
    minSizeBytes: options.minSize,
    spaceMargin: options.spaceMargin,
  };
  const result: HealthResult = await health(session.ctx, { thresholds, ...(options.deep === true ? { deep: true } : {}), ...(options.quick === true ? { quick: true } : {}), ...(options.remote === true ? { remote: true } : {}), ...(options.metricsFile === undefined ? {} : { metricsFile: options.metricsFile }) });
  await tellNotifiers(session, result, options.metricsFile);
  if (output.options.json) {
    output.json(healthJson(result));
    return result.exitCode;
  }
  const coloured = wantsColour(process.stdout);
  const colour = (status: string, text: string) => (coloured ? `${COLOURS[status] ?? ''}${text}\x1b[0m` : text);
  const lines = [colour(result.status, result.summary)];
  for (const check of result.checks) {
    lines.push(`  ${colour(check.status, `[${check.status}]`.padEnd(10))} ${check.name}: ${check.message}`);
    if (check.recommendation !== undefined) lines.push(`             → ${check.recommendation}`);
  }
  output.data(lines.join('\n'));
  return result.exitCode;
}

/** CRITICAL and recovery once per change (the notifier keeps that state); a backup's anomalies once. */
async function tellNotifiers(session: Session, result: HealthResult, metricsFile: string | undefined): Promise<void> {
  const { ctx } = session;
  if (ctx.config.notify === undefined) return;
  const reasons = result.checks.filter((c) => c.status !== 'OK').map((c) => `${c.name}: ${c.message}`);
  const anomaly = result.checks.find((c) => c.name === 'anomalies' && c.status !== 'OK');
  const news = anomaly !== undefined && result.anomalies !== undefined && await firstAnomalyNotice(ctx, result.anomalies.backup);
  await notifyHealth(ctx, result.exitCode, reasons, news ? [anomaly.message] : [], { metricsFile }).catch((error: unknown) => ctx.log.warn(`could not notify: ${(error as Error).message}`));
}

/** The monitoring verdict with the figures behind it, every check in one shape; null where not known. */
export function healthJson(result: HealthResult) {
  const f = result.figures;
  return {
    status: result.status,
    exitCode: result.exitCode,
    summary: result.summary,
    location: f?.location ?? null,
    backups: f?.backups ?? null,
    newest: f?.newest ?? null,
    medianSize: f?.medianSize ?? null,
    freeBytes: f?.freeBytes ?? null,
    leftoverBytes: f?.leftoverBytes ?? null,
    checks: result.checks.map((c) => ({ name: c.name, status: c.status, message: c.message, recommendation: c.recommendation ?? null })),
    anomalies: result.anomalies === undefined ? null : { ...result.anomalies, unmatched: result.anomalies.unmatched ?? [] },
  };
}
