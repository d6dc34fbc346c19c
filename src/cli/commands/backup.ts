import { backup, type BackupResult } from '../../ops/backup.js';
import { writeBackupMetrics } from '../../ops/health.js';
import { formatBytes, formatDuration } from '../../util/format.js';
import type { Session } from '../session.js';

export interface BackupCommandOptions {
  prune: boolean;
  metricsFile?: string;
}

export async function backupCommand(session: Session, options: BackupCommandOptions): Promise<number> {
  let result: BackupResult;
  try {
    result = await backup(session.ctx, { noPrune: !options.prune });
  } catch (error) {
    if (options.metricsFile !== undefined) await writeBackupMetrics(session.ctx, options.metricsFile, false).catch(() => undefined);
    throw error;
  }
  if (options.metricsFile !== undefined) await writeBackupMetrics(session.ctx, options.metricsFile, true);
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
  const stores = Object.entries(result.manifest.stores)
    .map(([kind, m]) => `${kind} ${Object.values(m.counts).reduce((a, b) => a + b, 0)} ${kind === 'uploads' ? 'entries' : 'rows'}`)
    .join(', ');
  output.data(`backup ${result.archive}\n  ${formatBytes(result.size)} in ${formatDuration(result.durationSeconds)}; ${stores}\n  sha256 ${result.sha256}`);
  if (result.prune !== undefined && result.prune.removed.length > 0) output.data(`  pruned ${result.prune.removed.join(', ')}`);
  return 0;
}
