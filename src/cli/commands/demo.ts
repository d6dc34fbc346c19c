import { demo } from '../../demo/demo.js';
import { formatBytes, formatDuration } from '../../util/format.js';
import { table } from '../render/output.js';
import type { Session } from '../session.js';

export async function demoCommand(session: Session): Promise<number> {
  const { output, ctx } = session;
  const result = await demo({ signal: ctx.signal, log: ctx.log, progress: ctx.progress }, ctx.config.mongodb);
  const { backup, restore } = result;
  if (output.options.json) {
    output.json({ archive: { size: backup.size, sha256: backup.sha256, durationSeconds: backup.durationSeconds }, restore: { stores: restore.stores, mismatches: restore.mismatches } });
    return restore.mismatches.length === 0 ? 0 : 2;
  }
  const rows = restore.stores.flatMap((s) => s.counts.map((c) => [s.kind, c.object, String(c.expected), String(c.actual), c.expected === c.actual ? 'ok' : 'MISMATCH']));
  output.data([
    `backed up in ${formatDuration(backup.durationSeconds)}: ${formatBytes(backup.size)} archive, sha256 ${backup.sha256.slice(0, 16)}…`,
    `restored into a second database and folder in ${formatDuration(restore.durationSeconds)}:`,
    '',
    table(['store', 'object', 'in archive', 'restored', 'status'], rows),
    '',
    restore.mismatches.length === 0 ? 'demo OK: every count matches.' : `demo FAILED: ${restore.mismatches.length} mismatch(es).`,
  ].join('\n'));
  return restore.mismatches.length === 0 ? 0 : 2;
}
