import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FerryError } from '../../errors/index.js';
import { pull } from '../../ops/pull.js';
import { maskSettingsFor } from '../../ops/restore/mask.js';
import { isRemoteReference, parseRemoteReference } from '../../remote/index.js';
import { applyRestore, guardRestore, planRestore, type RestorePlan, type RestoreResult } from '../../ops/restore/index.js';
import { STORE_KINDS, type StoreKind } from '../../stores/index.js';
import { formatBytes, formatDuration } from '../../util/format.js';
import { canPrompt, confirm } from '../render/confirm.js';
import { table } from '../render/output.js';
import type { Session } from '../session.js';

export interface RestoreCommandOptions {
  only?: string;
  toDb?: string;
  collections?: string;
  jobs?: number;
  yes?: boolean;
  dryRun?: boolean;
  allowSourceTarget?: boolean;
  allowRemoteTarget?: boolean;
  tables?: string;
  mask?: boolean;
}

export async function restoreCommand(session: Session, reference: string, options: RestoreCommandOptions): Promise<number> {
  const { output, ctx } = session;
  const only = parseOnly(options.only);
  const mask = maskSettingsFor(ctx, options.mask);
  if (isRemoteReference(reference)) {
    const { location, name } = parseRemoteReference(reference);
    const pulled = await pull(ctx, name, location);
    output.logger.info(pulled.downloaded ? `pulled ${reference} into ${pulled.path} (sha256 checked)` : `using ${pulled.path}, already pulled`);
    reference = pulled.path;
  }
  const planDir = await mkdtemp(join(tmpdir(), 'ferry-plan-'));
  let plan: RestorePlan;
  try {
    plan = await planRestore(ctx, reference, {
      ...(only === undefined ? {} : { only }),
      ...(options.toDb === undefined ? {} : { toDatabase: options.toDb }),
      ...(options.jobs === undefined ? {} : { jobs: options.jobs }),
      ...(options.collections === undefined ? {} : { collections: options.collections.split(',').map((c) => c.trim()).filter((c) => c !== '') }),
      allowSource: options.allowSourceTarget === true,
      allowRemote: options.allowRemoteTarget === true,
      ...(options.tables === undefined ? {} : { tables: options.tables.split(',').map((t) => t.trim()).filter((t) => t !== '') }),
      ...(mask === undefined ? {} : { mask }),
    }, { signal: ctx.signal, log: ctx.log, progress: ctx.progress, redactor: ctx.redactor, tempDir: planDir });
  } finally {
    await rm(planDir, { recursive: true, force: true });
  }
  guardRestore(plan);
  if (options.dryRun === true) {
    if (output.options.json) output.json({ dryRun: true, plan: planJson(plan) });
    else output.data(renderPlan(plan) + '\n(dry run: nothing was changed)');
    return 0;
  }
  if (options.yes !== true) {
    if (!canPrompt()) {
      throw new FerryError('CONFIRMATION_REQUIRED', 'restore replaces data and there is no terminal to confirm on', {
        hint: 'Run it in a terminal, or add --yes to confirm in scripts (see --dry-run for what it would do).',
      });
    }
    process.stderr.write(renderPlan(plan) + '\n');
    if (!(await confirm('Replace the data above?'))) {
      throw new FerryError('RESTORE_DECLINED', 'restore cancelled; nothing was changed', { hint: 'Run it again and answer yes to go ahead.' });
    }
  } else if (!output.options.json) {
    output.logger.info(renderPlan(plan));
  }
  const result = await applyRestore(ctx, plan);
  if (output.options.json) output.json(resultJson(result));
  else output.data(renderReport(result));
  if (result.mismatches.length > 0) {
    const first = result.mismatches[0];
    throw new FerryError('COUNT_MISMATCH', `restored counts differ from the manifest in ${result.mismatches.length} object(s), first ${first?.kind} ${first?.object}: expected ${first?.expected}, found ${first?.actual}`, {
      hint: 'Something changed the target during the restore, or the restore is incomplete; check the table above and run the restore again.',
    });
  }
  return 0;
}

function parseOnly(value: string | undefined): StoreKind[] | undefined {
  if (value === undefined) return undefined;
  const aliases: Record<string, StoreKind> = { postgres: 'postgres', postgresql: 'postgres', pg: 'postgres', mongo: 'mongo', mongodb: 'mongo', uploads: 'uploads', files: 'uploads' };
  return value.split(',').map((raw) => {
    const kind = aliases[raw.trim().toLowerCase()];
    if (kind === undefined) {
      throw new FerryError('USAGE', `--only: unknown store ${raw}`, { hint: `Use a comma-separated list of ${STORE_KINDS.join(', ')}.` });
    }
    return kind;
  });
}

export function renderPlan(plan: RestorePlan): string {
  const m = plan.manifest;
  const lines = [`restore ${plan.archive}`, `  taken ${m.createdAt} on ${m.host}`];
  for (const { store, manifest, target } of plan.stores) {
    lines.push(`  ${store.kind}: ${manifest.source} -> ${target.describe}${target.currentCounts === undefined ? ' (does not exist yet: will be created)' : ''}`);
    for (const note of target.notes ?? []) lines.push(`    ${note}`);
    if (store.kind === 'uploads') {
      const now = target.currentCounts;
      lines.push(`    replaces ${now === undefined ? 'nothing' : `${now.files ?? 0} files, ${now.directories ?? 0} folders, ${now.symlinks ?? 0} links`} with ${manifest.counts.files ?? '?'} files, ${manifest.counts.directories ?? '?'} folders, ${manifest.counts.symlinks ?? '?'} links (${formatBytes(manifest.bytes)})`);
      continue;
    }
    const selected = Object.keys(manifest.counts).filter((object) => target.currentCounts === undefined || object in target.currentCounts);
    const unit = store.kind === 'mongo' ? 'documents' : 'rows';
    lines.push(`    drops and loads ${selected.length} ${store.kind === 'mongo' ? 'collections' : 'tables'} (${unit} now -> in the archive):`);
    lines.push(table(['      object', 'now', 'archive'], selected.map((object) => {
      const now = target.currentCounts?.[object];
      return [`      ${object}`, now === undefined || now < 0 ? '-' : String(now), String(manifest.counts[object])];
    })));
  }
  for (const skipped of plan.skipped) lines.push(`  ${skipped.kind}: skipped (${skipped.reason})`);
  const mask = plan.request.mask;
  if (mask !== undefined) {
    const objects = [...[...mask.rules.postgres.keys()], ...[...mask.rules.mongo.keys()]];
    lines.push(`  masking on the way in: ${objects.join(', ')} (rule set ${mask.rules.digest.slice(0, 12)}); other tables and collections as they are`);
  }
  return lines.join('\n');
}

function renderReport(result: RestoreResult): string {
  const rows = result.stores.flatMap((s) => s.counts.map((c) => [
    s.kind, c.object, c.expected < 0 ? '?' : String(c.expected), c.actual < 0 ? 'missing' : String(c.actual),
    c.expected < 0 ? 'restored' : c.expected === c.actual ? 'ok' : 'MISMATCH',
  ]));
  const notes = result.stores.flatMap((s) => (s.notes ?? []).map((note) => `${s.kind}: ${note}`));
  const timings = result.stores.map((s) => `${s.kind} ${formatDuration(s.durationSeconds)}`).join(', ');
  const masked = result.stores.flatMap((s) => (s.masking ?? []).map((m) => [s.kind, m.object, String(m.rows), String(m.masked)]));
  const maskTable = masked.length === 0 ? '' : `\n${table(['store', 'masked object', 'rows seen', 'values masked'], masked)}`;
  const noteLines = notes.length === 0 ? '' : `\n${notes.join('\n')}`;
  return `${table(['store', 'object', 'expected', 'restored', 'status'], rows)}${maskTable}${noteLines}\nrestored from ${result.archive} in ${formatDuration(result.durationSeconds)} (${timings})`;
}

function planJson(plan: RestorePlan) {
  return {
    archive: plan.archive,
    createdAt: plan.manifest.createdAt,
    stores: plan.stores.map(({ store, manifest, target }) => ({
      kind: store.kind,
      source: manifest.source,
      target: target.describe,
      current: target.currentCounts ?? null,
      incoming: manifest.counts,
      bytes: manifest.bytes,
    })),
    skipped: plan.skipped,
  };
}

function resultJson(result: RestoreResult) {
  return {
    archive: result.archive,
    durationSeconds: result.durationSeconds,
    stores: result.stores,
    mismatches: result.mismatches,
    ok: result.mismatches.length === 0,
  };
}
