import { FerryError } from '../../errors/index.js';
import { notify } from '../../notify/notify.js';
import type { Session } from '../session.js';

/** ferry notify test: one message through every configured notifier, each reported. */
export async function notifyTestCommand(session: Session, options: { metricsFile?: string } = {}): Promise<number> {
  const { ctx, output } = session;
  const config = ctx.config.notify;
  const configured = config !== undefined && (config.smtp !== undefined || [config.on_failure, config.on_success].some((t) => t?.webhook !== undefined || t?.exec !== undefined));
  if (!configured) {
    throw new FerryError('USAGE', 'no notifier is configured', { hint: 'Add notify.on_failure (webhook or exec) or notify.smtp to the config (docs/monitoring.md).' });
  }
  const results = await notify(config, { command: 'notify test', outcome: 'success', kind: 'test', durationSeconds: 0 }, ctx.log, { metricsFile: options.metricsFile });
  if (output.options.json) output.json({ results });
  else output.data(results.map((r) => `${r.channel}: ${r.ok ? 'sent' : 'FAILED (see the warning above)'}`).join('\n'));
  const failed = results.filter((r) => !r.ok);
  if (failed.length > 0) {
    throw new FerryError('NOTIFY_FAILED', `${failed.length} of ${results.length} notifier(s) failed: ${failed.map((r) => r.channel).join(', ')}`, { hint: 'The warnings above say why; fix notify: in the config and run ferry notify test again.' });
  }
  return 0;
}
