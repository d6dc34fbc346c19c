import { FerryError } from '../../errors/index.js';
import { assertRequiredPresent, dbCheck, dbInit, type StoreCheck } from '../../ops/db.js';
import { EXACT_COUNT_BELOW } from '../../stores/postgres/store.js';
import { formatDuration } from '../../util/format.js';
import { checkedStoresJson, keptJson } from '../render/json.js';
import { keptCopiesOf, renderKept } from '../render/kept.js';
import { table } from '../render/output.js';
import type { Session } from '../session.js';

export interface DbCommandOptions {
  wait: number;
}

/** "60s", "2m", "90" (seconds). */
export function parseWait(value: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(value.trim());
  if (m === null) throw new FerryError('USAGE', `--wait ${value}: expected a duration such as 60s, 2m or 90`, { hint: 'Give seconds (90 or 90s), minutes (2m) or milliseconds (500ms).' });
  const n = Number(m[1]);
  return m[2] === 'm' ? n * 60 : m[2] === 'ms' ? n / 1000 : n;
}

function renderChecks(checks: StoreCheck[]): string {
  return checks.map((c) => [
    `${c.target}: reachable${c.waitedSeconds >= 1 ? ` after ${formatDuration(c.waitedSeconds)}` : ''}, ${c.serverVersion}`,
    table([`  ${c.kind === 'mongo' ? 'collection' : 'table'}`, c.kind === 'mongo' ? 'documents' : 'rows', ''], [
      ...c.objects.map((o) => [`  ${o.name}`, `${o.estimated ? '~' : ''}${o.count}`, o.required ? 'required' : '']),
      ...c.missing.map((name) => [`  ${name}`, '-', 'required, MISSING']),
    ]),
    ...(c.objects.some((o) => o.estimated) ? [`  ~ marks the planner's estimate: tables of ${EXACT_COUNT_BELOW.toLocaleString('en-US')} rows or more are not counted; the others are exact`] : []),
  ].join('\n')).join('\n');
}

export async function dbCheckCommand(session: Session, options: DbCommandOptions): Promise<number> {
  const checks = await dbCheck(session.ctx, { waitSeconds: options.wait });
  const kept = await keptCopiesOf(session);
  if (session.output.options.json) session.output.json({ ok: checks.every((c) => c.missing.length === 0), stores: checkedStoresJson(checks), kept: keptJson(kept) });
  else session.output.data([renderChecks(checks), renderKept(kept)].filter((part) => part !== undefined).join('\n'));
  assertRequiredPresent(checks);
  return 0;
}

export async function dbInitCommand(session: Session, options: DbCommandOptions): Promise<number> {
  const result = await dbInit(session.ctx, { waitSeconds: options.wait });
  const { output } = session;
  if (output.options.json) {
    output.json({
      ok: result.inits.every((i) => i.conflicts.length === 0) && result.checks.every((c) => c.missing.length === 0),
      stores: checkedStoresJson(result.checks),
      inits: result.inits.map((i) => ({ kind: i.kind, target: i.target, created: i.created, unchanged: i.unchanged, conflicts: i.conflicts, drift: i.drift ?? [] })),
    });
  }
  else {
    const lines: string[] = [];
    for (const init of result.inits) {
      const drift = init.drift ?? [];
      lines.push(`${init.kind} ${init.target}: ${init.created.length} created, ${init.unchanged.length} unchanged, ${init.conflicts.length} conflicts${drift.length > 0 ? `, ${drift.length} drifted` : ''}`);
      for (const created of init.created) lines.push(`  created   ${created}`);
      for (const conflict of init.conflicts) lines.push(`  CONFLICT  ${conflict}`);
      for (const drifted of drift) lines.push(`  drift     ${drifted}`);
    }
    lines.push(renderChecks(result.checks));
    output.data(lines.join('\n'));
  }
  const conflicts = result.inits.flatMap((i) => i.conflicts);
  if (conflicts.length > 0) {
    throw new FerryError('DB_INIT_CONFLICT', `${conflicts.length} declared index(es) differ from the database, first: ${conflicts[0]}`, {
      hint: 'Nothing was dropped. Align mongodb.indexes with the database, or drop the old index by hand if the declared one is right.',
    });
  }
  assertRequiredPresent(result.checks);
  return 0;
}
