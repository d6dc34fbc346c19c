import { rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename } from 'node:path';
import { removeDeadRunFolders, runFolder } from '../run-folders.js';
import { chainFileList, drain, LEGACY_FORMAT_VERSION, readArchiveChecked, type ArchiveEntryHeader } from '../../archive/index.js';
import { FerryError, throwIfAborted } from '../../errors/index.js';
import { lastLine, runTool } from '../../process/index.js';
import type { MaskedObjectStats, ObjectCount, RestoreStaging, StoreContext } from '../../stores/index.js';
import type { OperationContext } from '../context.js';
import type { RestorePlan } from './plan.js';
import { decryption } from '../keys.js';
import { baseOf, CHAIN_PREFIX } from '../chain.js';
import { ChainFeed, readChainLink } from './chain-feed.js';
import { ReadAhead } from './read-ahead.js';
import { readUsedEntries, type EntryRoute } from './read-used.js';

export interface StoreRestoreReport {
  kind: string;
  target: string;
  counts: ObjectCount[];
  durationSeconds: number;
  masking?: MaskedObjectStats[];
  notes?: string[];
}

export interface RestoreResult {
  archive: string;
  stores: StoreRestoreReport[];
  /** Objects whose restored count differs from the manifest. */
  mismatches: Array<{ kind: string } & ObjectCount>;
  durationSeconds: number;
}

/**
 * Stages every selected store from one pass over the archive, checks every entry it uses against the
 * manifest, and only then makes the data live, store by store.
 */
export async function applyRestore(ctx: OperationContext, plan: RestorePlan): Promise<RestoreResult> {
  const started = Date.now();
  const tempRoot = ctx.config.backup.temp_directory ?? tmpdir();
  await removeDeadRunFolders(tempRoot, ctx.log);
  const tempDir = await runFolder(tempRoot, 'restore');
  const storeCtx: StoreContext = { signal: ctx.signal, log: ctx.log, progress: ctx.progress, redactor: ctx.redactor, tempDir };
  const stagings = new Map<string, RestoreStaging>();
  try {
    for (const planned of plan.stores) {
      stagings.set(planned.store.archivePrefix, await planned.store.prepareRestore(planned.manifest, plan.request, storeCtx));
    }
    const ahead = ReadAhead.plan(plan.manifest, stagings, decryption(ctx, plan.archive).decrypt !== undefined);
    const stopAhead = new AbortController();
    const readingAhead = ahead?.run(plan.archive, plan.manifest, ctx.log, { signal: AbortSignal.any([ctx.signal, stopAhead.signal]) });
    readingAhead?.catch(() => undefined);
    let read: string;
    try {
      // The entries read ahead are staged before the main pass starts: the database's load, the
      // longest step, starts from them, and on two cores the uploads pass took half the CPU from
      // staging the dump.
      await readingAhead;
      read = await readAll(ctx, plan, stagings, ahead);
    } catch (error) {
      stopAhead.abort();
      await readingAhead?.catch(() => undefined);
      throw error;
    }
    ctx.progress.done(read);
    throwIfAborted(ctx.signal);
    // Checks that need the staged data (masking rules among them) pass for every store before any is touched.
    for (const staging of stagings.values()) await staging.validate?.();

    const reports: StoreRestoreReport[] = [];
    try {
      await runHook(ctx, 'before');
      for (const [index, planned] of plan.stores.entries()) {
        const staging = stagings.get(planned.store.archivePrefix);
        if (staging === undefined) continue;
        try {
          const result = await staging.apply();
          reports.push({ kind: planned.store.kind, ...result });
          ctx.log.info(`${planned.store.kind}: restored into ${result.target} in ${result.durationSeconds.toFixed(1)} s`);
        } catch (error) {
          throw withStoreStates(error, plan, index);
        }
      }
    } finally {
      await runHook(ctx, 'after');
    }
    // An expected count below zero means the archive did not say (old scripts' archives).
    const mismatches = reports.flatMap((r) => r.counts.filter((c) => c.expected >= 0 && c.expected !== c.actual).map((c) => ({ kind: r.kind, ...c })));
    return { archive: plan.archive, stores: reports, mismatches, durationSeconds: (Date.now() - started) / 1000 };
  } finally {
    for (const staging of stagings.values()) await staging.discard().catch(() => undefined);
    await rm(tempDir, { recursive: true, force: true });
  }
}

/**
 * The one pass over the archive (after the earlier links of its chain, for a delta) that stages every
 * selected store and checks each entry it reads against the manifest; it says what it checked.
 */
async function readAll(ctx: OperationContext, plan: RestorePlan, stagings: ReadonlyMap<string, RestoreStaging>, ahead: ReadAhead | undefined): Promise<string> {
  const feed = plan.chain === undefined ? undefined : new ChainFeed(chainFileList(plan.manifest, CHAIN_PREFIX), basename(plan.archive));
  const chainStaging = stagings.get(CHAIN_PREFIX);
  // The full and the deltas before this one give the uploads files this one does not hold.
  for (const link of plan.chain ?? []) {
    if (feed === undefined || chainStaging === undefined) break;
    ctx.progress.start(`reading ${link.path} (a link of the chain)`, await stat(link.path).then((s) => s.size, () => undefined));
    await readChainLink(link, feed, (header, data) => chainStaging.accept(header, header.path.slice(CHAIN_PREFIX.length), data), {
      signal: ctx.signal, onCompressedBytes: (n) => ctx.progress.update(n), ...decryption(ctx, link.path),
    });
    ctx.progress.done();
  }
  const ownEntries = new Map(plan.manifest.entries.map((entry) => [entry.path, entry]));
  const route = (header: ArchiveEntryHeader): EntryRoute => {
    const prefix = [...stagings.keys()].find((p) => header.path === p || header.path.startsWith(p));
    const staging = prefix === undefined ? undefined : stagings.get(prefix);
    const selected = feed !== undefined && prefix === CHAIN_PREFIX ? feed.select(header, basename(plan.archive), ownEntries) : header;
    if (staging === undefined || prefix === undefined || selected === undefined) return undefined;
    return ahead?.takenAhead(header.path) === true ? 'taken ahead' : { staging, relativePath: header.path.slice(prefix.length), header: selected };
  };
  ctx.progress.start(`reading ${plan.archive}`, await stat(plan.archive).then((s) => s.size, () => undefined));
  const options = { signal: ctx.signal, onCompressedBytes: (n: number) => ctx.progress.update(n), ...decryption(ctx, plan.archive) };
  // The whole archive is read when the sidecar cannot say what to stop after: an old scripts' archive
  // has no checksums, an encrypted one's sidecar lists no entries, and a delta's own manifest names its chain's base.
  const sidecarLists = plan.manifest.formatVersion !== LEGACY_FORMAT_VERSION && plan.manifest.entries.length > 0 && options.decrypt === undefined;
  if (feed === undefined && sidecarLists) {
    await readUsedEntries(plan.archive, plan.manifest, stagings, route, ctx.log, options);
    return 'the archive read as far as the restore uses it, and every entry used matches its checksum';
  }
  const inner = await readArchiveChecked(plan.archive, plan.manifest, async (header, data) => {
    const target = route(header);
    if (typeof target === 'object') await target.staging.accept(target.header, target.relativePath, data);
    else await drain(data);
  }, options);
  feed?.confirm(basename(plan.archive), inner);
  // The chain was followed from the sidecar's base: it must be the one the archive itself records.
  if (feed !== undefined && JSON.stringify(baseOf(inner)) !== JSON.stringify(baseOf(plan.manifest))) {
    throw new FerryError('ARCHIVE_CORRUPT', `${plan.archive}: its manifest sidecar names another base than the manifest inside it`, {
      hint: 'Nothing was changed. Run ferry verify on the archive; restore another backup (ferry list).',
    });
  }
  feed?.assertComplete();
  return plan.manifest.formatVersion === LEGACY_FORMAT_VERSION ? 'archive read; made by the old scripts: no checksums to compare' : 'archive read and every entry matches its checksum';
}

/**
 * restore.before / restore.after (e.g. stopping and starting the app around the swap), bounded by
 * restore.hook_timeout_seconds. A failed `before` stops the restore before any store is swapped.
 */
async function runHook(ctx: OperationContext, which: 'before' | 'after'): Promise<void> {
  const command = ctx.config.restore[which];
  if (command === undefined) return;
  const [program, ...args] = command;
  const timeout = AbortSignal.timeout(ctx.config.restore.hook_timeout_seconds * 1000);
  const signal = AbortSignal.any([ctx.signal, timeout]);
  let failure: string | undefined;
  try {
    const result = await runTool(program as string, args, { signal });
    if (result.exitCode !== 0) failure = `exited ${String(result.exitCode ?? result.signal)}: ${lastLine(result.stderr)}`;
  } catch (error) {
    if (ctx.signal.aborted) throw error;
    failure = timeout.aborted ? `ran past ${ctx.config.restore.hook_timeout_seconds} s and was stopped` : (error as Error).message;
  }
  if (failure === undefined) {
    ctx.log.info(`restore.${which}: ${command.join(' ')} done`);
    return;
  }
  const error = new FerryError('RESTORE_HOOK_FAILED', `restore.${which} (${ctx.redactor.redact(command.join(' '))}) ${ctx.redactor.redact(failure)}`, {
    hint: which === 'before' ? 'Nothing was swapped: every target is as it was. Fix the command and restore again.' : 'The restore itself finished; start what the hook should have started by hand.',
  });
  if (which === 'before') throw error;
  ctx.log.warn(`${error.message} — ${error.hint ?? ''}`);
}

/**
 * A failed restore says exactly what state each store is in. The stores swapped in before the failure
 * hold what they replaced as their previous copy, which running the restore again would drop: the
 * hint says how to get it back first (and an interruption's "nothing was kept" is not true then).
 */
export function withStoreStates(error: unknown, plan: Pick<RestorePlan, 'stores'>, failedIndex: number): unknown {
  if (!(error instanceof FerryError)) return error;
  const states = plan.stores.map((planned, index) => {
    const state = index < failedIndex ? 'restored' : index === failedIndex ? 'failed, left as it was' : 'not started, unchanged';
    return `${planned.store.kind}: ${state}`;
  });
  const restored = plan.stores.slice(0, failedIndex).map((planned) => planned.store.kind);
  const base = restored.length > 0 && error.code === 'INTERRUPTED' ? '' : (error.hint ?? '');
  const kept = restored.length === 0 ? ''
    : ` ${restored.join(' and ')} ${restored.length === 1 ? 'was' : 'were'} restored before that: ferry restore --undo --only ${restored.join(',')} puts back what ${restored.length === 1 ? 'it' : 'they'} replaced; running the restore again first drops that copy.`;
  return new FerryError(error.code, error.message, { hint: `${base}${kept} State: ${states.join('; ')}.`.trim(), cause: error.cause });
}
