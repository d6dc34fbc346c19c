import { backup, type BackupResult } from '../../ops/backup.js';
import { writeBackupMetrics } from '../../ops/health.js';
import { storeTotals } from '../../archive/index.js';
import { isFerryError } from '../../errors/index.js';
import { notify } from '../../notify/notify.js';
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
    const failure = isFerryError(error) ? { code: error.code, message: ctx.redactor.redact(error.message), exitCode: error.exitCode } : { code: 'BUG', message: ctx.redactor.redact(String(error)), exitCode: 1 };
    await notify(ctx.config.notify, { command: 'backup', outcome: 'failure', durationSeconds: (Date.now() - started) / 1000, error: failure }, ctx.log);
    throw error;
  }
  if (options.metricsFile !== undefined) await writeBackupMetrics(ctx, options.metricsFile, true);
  ctx.log.info(`backup succeeded: ${result.archive}, ${formatBytes(result.size)} in ${formatDuration(result.durationSeconds)}`);
  await notify(ctx.config.notify, {
    command: 'backup',
    outcome: 'success',
    archive: result.archive,
    size: result.size,
    durationSeconds: result.durationSeconds,
    stores: storeTotals(result.manifest),
  }, ctx.log);
  const { output } = session;
  if (output.options.json) {
    output.json({
      archive: result.archive,
      size: result.size,
      sha256: result.sha256,
      durationSeconds: result.durationSeconds,
      stores: result.manifest.stores,
      warnings: result.warnings,
      pruned: result.prune?.removed ?? [],
    });
    return 0;
  }
  for (const warning of result.warnings) output.logger.warn(warning);
  const stores = Object.entries(storeTotals(result.manifest))
    .map(([kind, totals]) => `${kind} ${totals.items} ${kind === 'uploads' ? 'entries' : 'rows'}`)
    .join(', ');
  output.data(`backup ${result.archive}\n  ${formatBytes(result.size)} in ${formatDuration(result.durationSeconds)}; ${stores}\n  sha256 ${result.sha256}`);
  if (result.prune !== undefined && result.prune.removed.length > 0) output.data(`  pruned ${result.prune.removed.join(', ')}`);
  return 0;
}
