import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { runFolder } from '../../ops/run-folders.js';
import { FerryError } from '../../errors/index.js';
import { pull } from '../../ops/pull.js';
import { maskSettingsFor } from '../../ops/restore/mask.js';
import { isRemoteReference, parseRemoteReference } from '../../remote/index.js';
import { applyRestore, dropKeptCopies, guardRestore, keptCopies, nothingKept, planRestore, swapInKept, type KeptCopiesRequest, type KeptCopyAction, type RestorePlan, type RestoreResult } from '../../ops/restore/index.js';
import { STORE_KINDS, type StoreKind } from '../../stores/index.js';
import { formatBytes, formatDuration, plural } from '../../util/format.js';
import { canPrompt, confirm } from '../render/confirm.js';
import { objectCountJson, plannedStoresJson, restoredStoresJson } from '../render/json.js';
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
  cascade?: boolean;
  force?: boolean;
  undo?: boolean;
  dropPrevious?: boolean;
}

export async function restoreCommand(session: Session, archive: string | undefined, options: RestoreCommandOptions): Promise<number> {
  const { output, ctx } = session;
  const only = parseOnly(options.only);
  if (options.undo === true || options.dropPrevious === true) {
    if (archive !== undefined) throw new FerryError('USAGE', `--${options.undo === true ? 'undo' : 'drop-previous'} takes no archive`, { hint: 'Run ferry restore --undo (or --drop-previous) alone.' });
    if (options.undo === true && options.dropPrevious === true) throw new FerryError('USAGE', '--undo and --drop-previous contradict each other', { hint: 'Choose one.' });
    const confirmation = { yes: options.yes === true, dryRun: options.dryRun === true };
    return options.undo === true
      ? keptCopyCommand(session, 'previous', keptRequest(options, only), confirmation)
      : dropPreviousCommand(session, keptRequest(options, only), confirmation);
  }
  if (archive === undefined) throw new FerryError('USAGE', 'ferry restore needs an archive (a path, a name in the backup directory, latest, or s3://…)', { hint: 'For example: ferry restore latest. ferry list shows the backups.' });
  let reference = archive;
  const mask = maskSettingsFor(ctx, options.mask);
  if (isRemoteReference(reference)) {
    const { location, name } = parseRemoteReference(reference);
    const pulled = await pull(ctx, name, location);
    output.logger.info(pulled.downloaded ? `pulled ${reference} into ${pulled.path} (sha256 checked)` : `using ${pulled.path}, already pulled`);
    reference = pulled.path;
  }
  const planDir = await runFolder(tmpdir(), 'plan');
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
      disconnect: options.force === true || ctx.config.restore.disconnect,
      keepPristine: ctx.config.restore.keep_pristine,
      strategy: ctx.config.restore.strategy,
      cascade: options.cascade === true,
    }, { signal: ctx.signal, log: ctx.log, progress: ctx.progress, redactor: ctx.redactor, tempDir: planDir });
  } finally {
    await rm(planDir, { recursive: true, force: true });
  }
  guardRestore(plan);
  if (options.dryRun === true) {
    if (output.options.json) output.json({ dryRun: true, plan: planJson(plan) });
    else output.data(`${renderPlan(plan)}\n(dry run: ${reopened(plan) ? 'nothing was restored; only the database a killed restore had left closed was opened again' : 'nothing was changed'})`);
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

export interface ResetCommandOptions {
  only?: string;
  toDb?: string;
  yes?: boolean;
  force?: boolean;
  allowRemoteTarget?: boolean;
}

export async function resetCommand(session: Session, options: ResetCommandOptions): Promise<number> {
  return keptCopyCommand(session, 'pristine', keptRequest(options, parseOnly(options.only)), { yes: options.yes === true, dryRun: false });
}

function keptRequest(options: { toDb?: string; force?: boolean; allowRemoteTarget?: boolean }, only: StoreKind[] | undefined): KeptCopiesRequest {
  return {
    ...(only === undefined ? {} : { only }),
    ...(options.toDb === undefined ? {} : { toDatabase: options.toDb }),
    disconnect: options.force === true || undefined,
    allowRemote: options.allowRemoteTarget === true,
  };
}

interface Confirmation {
  yes: boolean;
  /** Show what would be done and change nothing. */
  dryRun: boolean;
}

/**
 * What --undo, reset and --drop-previous are about to change is shown, then confirmed on a terminal
 * or by --yes, as a restore is. True: go ahead; false: a dry run, shown and nothing more to do.
 */
async function confirmKept(session: Session, action: 'undo' | 'reset' | 'drop-previous', lines: string[], actions: KeptCopyAction[], confirmation: Confirmation): Promise<boolean> {
  const { output } = session;
  const command = action === 'undo' ? 'restore --undo' : action === 'reset' ? 'reset' : 'restore --drop-previous';
  if (confirmation.dryRun) {
    if (output.options.json) output.json({ action, dryRun: true, actions });
    else output.data(`${lines.join('\n')}\n(dry run: nothing was changed)`);
    return false;
  }
  if (!confirmation.yes) {
    if (!canPrompt()) {
      throw new FerryError('CONFIRMATION_REQUIRED', `${command} ${action === 'drop-previous' ? 'removes kept copies' : 'replaces data'} and there is no terminal to confirm on`, {
        hint: `Run it in a terminal, or add --yes to confirm in scripts${action === 'reset' ? '' : ` (see --dry-run for what it would do)`}.`,
      });
    }
    process.stderr.write(lines.join('\n') + '\n');
    if (!(await confirm('Go ahead?'))) throw new FerryError('RESTORE_DECLINED', `${command}: cancelled; nothing was changed`, { hint: 'Run it again and answer yes to go ahead.' });
  } else if (!output.options.json) {
    output.logger.info(lines.join('\n'));
  }
  return true;
}

/** --undo and reset: show what each store keeps, confirm, then swap the kept copies in. */
async function keptCopyCommand(session: Session, role: 'previous' | 'pristine', request: KeptCopiesRequest, confirmation: Confirmation): Promise<number> {
  const { output, ctx } = session;
  const storeCtx = { signal: ctx.signal, log: ctx.log, progress: ctx.progress, redactor: ctx.redactor, tempDir: tmpdir() };
  const withDisconnect = { ...request, disconnect: request.disconnect === true || ctx.config.restore.disconnect };
  const kept = await keptCopies(ctx, withDisconnect, storeCtx);
  const action = role === 'previous' ? 'undo' : 'reset';
  const planned = kept.map((k) => {
    const copy = k.copies.find((c) => c.role === role);
    return { kind: k.kind, summary: copy === undefined ? `no ${role} copy kept, left as it is` : `${copy.describe}${copy.bytes === undefined ? '' : ` (${formatBytes(copy.bytes)})`} replaces ${k.target}` };
  });
  if (!kept.some((k) => k.copies.some((c) => c.role === role))) throw nothingKept(role);
  const lines = [`${role === 'previous' ? 'undo the last restore' : 'reset to the state the last restore left'}:`, ...planned.map((p) => `  ${p.kind}: ${p.summary}`)];
  if (!(await confirmKept(session, action, lines, planned, confirmation))) return 0;
  const actions = await swapInKept(ctx, role, withDisconnect, storeCtx);
  if (output.options.json) output.json({ action, actions });
  else output.data(actions.map((a) => `${a.kind}: ${a.summary}`).join('\n'));
  return 0;
}

/** --drop-previous: show the kept copies, confirm, then remove them. */
async function dropPreviousCommand(session: Session, request: KeptCopiesRequest, confirmation: Confirmation): Promise<number> {
  const { output, ctx } = session;
  const storeCtx = { signal: ctx.signal, log: ctx.log, progress: ctx.progress, redactor: ctx.redactor, tempDir: tmpdir() };
  const kept = await keptCopies(ctx, request, storeCtx);
  const planned = kept.map((k) => ({
    kind: k.kind,
    summary: k.copies.length === 0 ? 'nothing kept' : `would remove ${k.copies.map((c) => `${c.describe}${c.bytes === undefined ? '' : ` (${formatBytes(c.bytes)})`}`).join(', ')}`,
  }));
  if (kept.some((k) => k.copies.length > 0)) {
    const lines = ['remove the copies kept for undo and reset:', ...planned.map((p) => `  ${p.kind}: ${p.summary}`)];
    if (!(await confirmKept(session, 'drop-previous', lines, planned, confirmation))) return 0;
  } else if (confirmation.dryRun) {
    await confirmKept(session, 'drop-previous', ['nothing is kept for undo or reset'], planned, confirmation);
    return 0;
  }
  const actions = await dropKeptCopies(ctx, ['previous', 'pristine'], request, storeCtx);
  if (output.options.json) output.json({ action: 'drop-previous', actions });
  else output.data(actions.map((a) => `${a.kind}: ${a.summary}`).join('\n'));
  return 0;
}

/** The plan opened a database that a killed restore had left closed to connections (its data untouched). */
function reopened(plan: RestorePlan): boolean {
  return plan.stores.some((planned) => planned.target.notes?.some((note) => note.endsWith('opened again')) === true);
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
      lines.push(`    replaces ${now === undefined ? 'nothing' : `${plural(now.files ?? 0, 'file')}, ${plural(now.directories ?? 0, 'folder')}, ${plural(now.symlinks ?? 0, 'link')}`} with ${some(manifest.counts.files, 'file')}, ${some(manifest.counts.directories, 'folder')}, ${some(manifest.counts.symlinks, 'link')} (${formatBytes(manifest.bytes)})`);
      continue;
    }
    if (Object.keys(manifest.counts).length === 0) {
      lines.push(`    replaces every ${store.kind === 'mongo' ? 'collection' : 'table'} in the dump (an archive without a manifest records no counts: they are counted once loaded)`);
      continue;
    }
    const selected = Object.keys(manifest.counts).filter((object) => target.currentCounts === undefined || object in target.currentCounts);
    const unit = store.kind === 'mongo' ? 'documents' : 'rows';
    lines.push(`    replaces ${plural(selected.length, store.kind === 'mongo' ? 'collection' : 'table')} (${unit} now -> in the archive):`);
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
    stores: plannedStoresJson(plan.stores),
    skipped: plan.skipped,
  };
}

function resultJson(result: RestoreResult) {
  return {
    archive: result.archive,
    durationSeconds: result.durationSeconds,
    stores: restoredStoresJson(result.stores),
    mismatches: result.mismatches.map((m) => ({ kind: m.kind, ...objectCountJson(m) })),
    ok: result.mismatches.length === 0,
  };
}

/** A count the archive may not record (old scripts' archives): `? files` then. */
function some(count: number | undefined, noun: string): string {
  return count === undefined ? `? ${noun}s` : plural(count, noun);
}
