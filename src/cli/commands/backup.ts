import { backup, type BackupResult } from '../../ops/backup.js';
import { writeBackupMetrics } from '../../ops/health.js';
import { storeTotals } from '../../archive/index.js';
import { FerryError, isFerryError } from '../../errors/index.js';
import { reportFailure } from '../render/errors.js';
import { archivedStoresJson, errorJson } from '../render/json.js';
import { notify } from '../../notify/notify.js';
import { takeDigestDay } from '../../notify/state.js';
import { storesFromConfig } from '../../stores/index.js';
import { formatBytes, formatDuration } from '../../util/format.js';
import type { Session } from '../session.js';

export interface BackupCommandOptions {
  prune: boolean;
  metricsFile?: string;
}

export async function backupCommand(session: Session, options: BackupCommandOptions): Promise<number> {
  const { ctx } = session;
  const started = Date.now();
  ctx.log.info(`backup started: ${storesFromConfig(ctx.config).map((s) => s.describe()).join(', ') || 'no store configured'}`);
  let result: BackupResult;
  try {
    result = await backup(ctx, { noPrune: !options.prune });
  } catch (error) {
    if (options.metricsFile !== undefined) await writeBackupMetrics(ctx, options.metricsFile, false).catch(() => undefined);
    const failure = isFerryError(error)
      ? { code: error.code, message: ctx.redactor.redact(error.message), exitCode: error.exitCode, ...(error.hint === undefined ? {} : { hint: ctx.redactor.redact(error.hint) }) }
      : { code: 'BUG', message: ctx.redactor.redact(String(error)), exitCode: 1 };
    await notify(ctx.config.notify, { command: 'backup', outcome: 'failure', kind: 'backup_failed', durationSeconds: (Date.now() - started) / 1000, error: failure }, ctx.log, { metricsFile: options.metricsFile });
    throw error;
  }
  const upload = result.upload;
  const lastUpload = upload === undefined ? undefined : { at: ctx.now?.() ?? new Date(), success: upload.ok };
  if (options.metricsFile !== undefined) await writeBackupMetrics(ctx, options.metricsFile, true, lastUpload);
  ctx.log.info(`backup succeeded: ${result.archive}, ${formatBytes(result.size)} in ${formatDuration(result.durationSeconds)}`);
  if (upload?.ok === false) {
    const { error } = upload;
    await notify(ctx.config.notify, {
      command: 'backup',
      outcome: 'failure',
      kind: 'upload_failed',
      archive: result.archive,
      durationSeconds: result.durationSeconds,
      error: { code: error.code, message: ctx.redactor.redact(`backup kept locally, upload to ${upload.remote} failed: ${error.message}`), exitCode: error.exitCode },
    }, ctx.log, { metricsFile: options.metricsFile });
  } else {
    const digestDue = ctx.config.notify?.smtp?.events.daily_digest === true && await takeDigestDay(ctx.config.backup.directory, ctx.now?.() ?? new Date());
    await notify(ctx.config.notify, {
      command: 'backup',
      outcome: 'success',
      kind: 'backup_succeeded',
      archive: result.archive,
      size: result.size,
      durationSeconds: result.durationSeconds,
      stores: storeTotals(result.manifest),
      pruned: result.prune?.removed ?? [],
      digestDue,
    }, ctx.log, { metricsFile: options.metricsFile });
  }
  const exitCode = upload?.ok === false ? upload.error.exitCode : 0;
  const { output } = session;
  if (output.options.json) {
    output.json({
      archive: result.archive,
      size: result.size,
      sha256: result.sha256,
      durationSeconds: result.durationSeconds,
      stores: archivedStoresJson(result.manifest, true),
      warnings: result.warnings,
      pruned: result.prune?.removed ?? [],
      leftoversRemoved: result.leftoversRemoved.map((l) => ({ path: l.path, kind: l.kind, bytes: l.bytes })),
      upload: upload === undefined ? null : upload.ok
        ? { location: upload.remote, seconds: upload.seconds, pruned: upload.pruned, error: null }
        : { location: upload.remote, seconds: null, pruned: [], ...errorJson({ code: upload.error.code, message: ctx.redactor.redact(upload.error.message), hint: upload.error.hint, exitCode: upload.error.exitCode }) },
    });
    return exitCode;
  }
  for (const warning of result.warnings) output.logger.warn(warning);
  const stores = Object.entries(storeTotals(result.manifest))
    .map(([kind, totals]) => `${kind} ${totals.items} ${kind === 'uploads' ? 'entries' : 'rows'}`)
    .join(', ');
  output.data(`backup ${result.archive}\n  ${formatBytes(result.size)} in ${formatDuration(result.durationSeconds)}; ${stores}\n  sha256 ${result.sha256}`);
  if (result.prune !== undefined && result.prune.removed.length > 0) output.data(`  pruned ${result.prune.removed.join(', ')}`);
  if (result.leftoversRemoved.length > 0) {
    output.data(`  removed what an interrupted run left: ${result.leftoversRemoved.map((l) => `${l.path} (${formatBytes(l.bytes)})`).join(', ')}`);
  }
  if (upload?.ok === true) {
    output.data(`  uploaded to ${upload.remote} in ${formatDuration(upload.seconds)}${upload.pruned.length > 0 ? `; pruned there ${upload.pruned.join(', ')}` : ''}`);
  } else if (upload?.ok === false) {
    reportFailure(new FerryError(upload.error.code, `the backup is kept locally, but the upload to ${upload.remote} failed: ${upload.error.message}`, {
      hint: `${upload.error.hint ?? ''} Then run ferry push to upload it.`.trim(),
    }), ctx.redactor, false, output.options.logFormat);
  }
  return exitCode;
}
