import { applyPrune, type PruneOptions } from '../../ops/prune.js';
import { table } from '../render/output.js';
import type { Session } from '../session.js';

export type PruneCommandOptions = Omit<PruneOptions, 'lockHeld'> & { remote?: boolean };

export async function pruneCommand(session: Session, options: PruneCommandOptions): Promise<number> {
  const result = await applyPrune(session.ctx, options);
  const { output } = session;
  if (output.options.json) {
    output.json({
      location: result.location,
      dryRun: result.dryRun,
      keep: result.plan.keep.map((d) => ({ name: d.name, reasons: d.reasons })),
      remove: result.plan.remove.map((d) => ({ name: d.name, reasons: d.reasons })),
      removed: result.removed,
      foreign: result.foreign,
    });
    return 0;
  }
  const rows = [
    ...result.plan.keep.map((d) => [d.name, 'keep', d.reasons.join(', ')]),
    ...result.plan.remove.map((d) => [d.name, result.dryRun ? 'would remove' : 'removed', d.reasons.join(', ')]),
  ];
  output.data(rows.length === 0 ? `no backups in ${result.location}` : table(['backup', 'action', 'why'], rows));
  if (result.foreign.length > 0) output.data(`not Ferry's, left alone: ${result.foreign.join(', ')}`);
  return 0;
}
