import type { OperationContext } from '../ops/context.js';
import { notify, type NotifyOptions } from './notify.js';
import { healthNews } from './state.js';

/**
 * ferry health tells the notifiers when backups went bad, or stopped altogether (no backup run
 * reports that itself), and when they recover; and about data anomalies, each time one shows.
 */
export async function notifyHealth(ctx: OperationContext, status: number, reasons: string[], anomalies: string[], options: NotifyOptions = {}): Promise<void> {
  if (ctx.config.notify === undefined) return;
  const now = ctx.now?.() ?? new Date();
  const news = await healthNews(ctx.config.backup.directory, status, now);
  if (news === 'critical') {
    await notify(ctx.config.notify, { command: 'health', outcome: 'failure', kind: 'health_critical', details: reasons }, ctx.log, options);
  } else if (news === 'recovered') {
    await notify(ctx.config.notify, { command: 'health', outcome: 'success', kind: 'health_recovered', details: reasons }, ctx.log, options);
  }
  if (anomalies.length > 0) {
    await notify(ctx.config.notify, { command: 'health', outcome: 'failure', kind: 'anomaly', details: anomalies }, ctx.log, options);
  }
}
