import { basename } from 'node:path';
import { FerryError } from '../../errors/index.js';
import { verify, type VerifyReport } from '../../ops/verify.js';
import { formatBytes, formatDuration, plural } from '../../util/format.js';
import { table } from '../render/output.js';
import type { Session } from '../session.js';

export async function verifyCommand(session: Session, reference: string, options: { remote?: boolean } = {}): Promise<number> {
  const { output } = session;
  const reports = await verify(session.ctx, reference, options);
  if (output.options.json) output.json(verifyJson(reports));
  else output.data(reports.map((r) => render(r, output.options.verbose)).join('\n\n'));
  const bad = reports.filter((r) => !r.ok);
  const first = bad[0]?.findings[0];
  if (bad[0] !== undefined && first !== undefined) {
    const name = basename(bad[0].archive);
    // Only its chain is wrong: the archive is intact, and the fix is the missing link, not the disk.
    if (bad.length === 1 && bad[0].findings.every((f) => f.entry === 'chain')) {
      throw new FerryError('CHAIN_LINK_MISSING', `${name} cannot be restored: ${first.problem.replace(/: [^:]* cannot be restored$/, '')}`, {
        hint: `${name} itself is whole; put the missing archive back (${options.remote === true ? 'ferry push <it> from a machine that has it' : 'ferry pull <it>, or from another copy'}), or restore a backup whose chain is whole (ferry list${options.remote === true ? ' --remote' : ''}).`,
      });
    }
    throw new FerryError('ARCHIVE_CORRUPT', `${name} is not whole: ${first.problem}${bad.length > 1 || bad[0].findings.length > 1 ? ` (and ${bad.reduce((n, r) => n + r.findings.length, 0) - 1} more)` : ''}`, {
      hint: 'Do not rely on this backup: restore from a whole one (ferry list shows the verified ones) and check the disk that holds the backups.',
    });
  }
  return 0;
}

/** The `ferry verify --json` document (docs/json/verify.schema.json), without its schemaVersion. */
export function verifyJson(reports: VerifyReport[]) {
  return { ok: reports.every((r) => r.ok), archives: reports };
}

function render(report: VerifyReport, verbose: boolean): string {
  const speed = report.durationSeconds > 0 ? `, ${formatBytes(report.archiveBytes / report.durationSeconds)}/s` : '';
  const verdict = report.ok ? (report.oldScripts ? 'OK, made by the old scripts: no checksums to compare; readable' : 'OK') : `CORRUPT, ${report.findings.length} problem(s)`;
  const lines = [`${basename(report.archive)}: ${verdict} — ${plural(report.entries.length, 'entry', 'entries')}, ${formatBytes(report.archiveBytes)} read in ${formatDuration(report.durationSeconds)}${speed}`];
  const groups = new Map<string, { count: number; bad: number; bytes: number }>();
  for (const entry of report.entries) {
    const group = entry.path.includes('/') ? `${entry.path.split('/')[0]}/` : entry.path;
    const g = groups.get(group) ?? { count: 0, bad: 0, bytes: 0 };
    g.count++;
    g.bytes += entry.size;
    if (!entry.ok) g.bad++;
    groups.set(group, g);
  }
  const rows = verbose
    ? report.entries.map((e) => [e.path, formatBytes(e.size), e.ok ? 'ok' : 'BAD'])
    : [...groups].map(([group, g]) => [group, `${g.count} entr${g.count === 1 ? 'y' : 'ies'}, ${formatBytes(g.bytes)}`, g.bad === 0 ? 'ok' : `${g.bad} BAD`]);
  lines.push(table(['  entry', 'size', 'status'], rows.map(([a, b, c]) => [`  ${a}`, b ?? '', c ?? ''])));
  for (const finding of report.findings) lines.push(`  problem: ${finding.problem}`);
  return lines.join('\n');
}
