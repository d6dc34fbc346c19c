import { createWriteStream } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { drain, type ArchiveEntryHeader } from '../../archive/index.js';
import { FerryError } from '../../errors/index.js';
import { plural } from '../../util/format.js';
import { lastLine } from '../../process/index.js';
import { followGrowingFile } from '../../util/follow-file.js';
import { silentProgress, type MaskSettings, type MaskedObjectStats, type ObjectCount, type RestoreStaging, type StoreContext, type StoreRestoreResult } from '../store.js';
import { databaseOf, describeUrl, withClient, withDatabase, type PgTarget } from './connection.js';
import {
  CLIENT_SESSION, copyDatabase, createBeside, describeSessions, dropKeptDatabase, inUseError, keptName, onMaintenance, quoteIdent, reopenIfClosed, rolePrivileges,
  sessionsOn, swapDatabases, swapRefusal, type RolePrivileges, type Session, type SwapStep,
} from './databases.js';
import { checkMaskRules, COUNT_MISMATCH_CHECK, loadThroughPsql, pgRestoreInto, restoredCounts, type DumpSource } from './restore.js';
import { addForeignKeys, keyStatements, splitKeyLists } from './foreign-keys.js';
import { yieldingSessionSql, yieldingToolOptions } from './autovacuum.js';
import type { PgToolRunner } from './runner.js';
import { dumpedSchemas, parseToc, partialSelection, unquoteName } from './toc.js';

export type PgStrategy = 'swap' | 'in-place' | 'tables';

export interface StrategyChoice {
  strategy: PgStrategy;
  /** Why this strategy (shown in the plan and the result). */
  reason: string;
  privileges: RolePrivileges;
  sessions: Session[];
  /** A copy kept by the last restore or reset (<db>__ferry_prev) exists: a swap replaces it. */
  previousKept: boolean;
}

/** Picks how a restore replaces the target: looked at before the archive is read. */
export async function chooseStrategy(target: PgTarget, configured: 'auto' | 'swap' | 'in-place', tables: string[] | undefined): Promise<StrategyChoice> {
  const database = databaseOf(target.url);
  return onMaintenance(target, async (client) => {
    const privileges = await rolePrivileges(client, database);
    const sessions = privileges.targetExists ? await sessionsOn(client, database) : [];
    const previousKept = (await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [keptName(database, 'prev')])).rowCount === 1;
    if (tables !== undefined) return { strategy: 'tables', reason: 'only the tables named by --tables are replaced, in one transaction; the schema stays', privileges, sessions, previousKept };
    const refusal = swapRefusal(privileges);
    if (configured === 'in-place') return { strategy: 'in-place', reason: 'restore.strategy is in-place', privileges, sessions, previousKept };
    if (refusal === undefined) return { strategy: 'swap', reason: `built beside the target as ${keptName(database, 'new')}, then swapped in by renaming`, privileges, sessions, previousKept };
    if (configured === 'swap') {
      throw new FerryError('PG_RESTORE_FAILED', `restore.strategy is swap, but ${refusal}`, {
        hint: `Grant them (ALTER ROLE ${privileges.role} CREATEDB; ALTER DATABASE … OWNER TO ${privileges.role}), or set restore.strategy: in-place. Nothing was changed.`,
      });
    }
    if (!privileges.targetExists) {
      throw new FerryError('PG_DATABASE_MISSING', `database ${database} does not exist and role ${privileges.role} may not create it`, {
        hint: 'Create it (createdb, as a role that may), or grant CREATEDB. Nothing was changed.',
      });
    }
    return { strategy: 'in-place', reason: `in place, in one transaction: ${refusal}`, privileges, sessions, previousKept };
  });
}

/** The connected sessions this role may not end: a superuser's (unless it is one), other roles' without pg_signal_backend. */
function unendable(choice: StrategyChoice): { superusers: Session[]; others: Session[] } {
  const others = choice.sessions.filter((session) => session.user !== choice.privileges.role);
  return {
    superusers: choice.privileges.superuser ? [] : others.filter((session) => session.superuser),
    others: choice.privileges.signalBackend ? [] : others,
  };
}

/** Why --force cannot end the connected sessions, for the plan; undefined when it can. */
function endingRefusal(choice: StrategyChoice): string | undefined {
  const { superusers, others } = unendable(choice);
  if (superusers.length > 0) return `role ${choice.privileges.role} may not end a superuser's sessions`;
  if (others.length > 0) return `role ${choice.privileges.role} may not end other roles' sessions (pg_signal_backend)`;
  return undefined;
}

/** The plan's lines for a PostgreSQL target. */
export function strategyNotes(choice: StrategyChoice, database: string, disconnect: boolean, keepPristine: boolean): string[] {
  const notes = [`strategy ${choice.strategy}: ${choice.reason}`];
  if (choice.strategy === 'swap' && choice.privileges.targetExists) {
    if (choice.previousKept) notes.push(`${keptName(database, 'prev')}, the copy kept by the last restore or reset, is dropped (ferry restore --undo first brings it back)`);
    notes.push(`the current ${database} is kept as ${keptName(database, 'prev')} (ferry restore --undo brings it back)`);
  }
  if (choice.strategy !== 'swap') notes.push('no previous copy is kept: --undo will not be possible for PostgreSQL');
  if (keepPristine && choice.strategy === 'swap') notes.push(`a pristine copy is kept as ${keptName(database, 'pristine')} (ferry reset)`);
  if (choice.sessions.length > 0 && choice.strategy !== 'tables') {
    const list = choice.sessions.map((s) => `${s.application} (pid ${s.pid})`).join(', ');
    const blocked = endingRefusal(choice);
    notes.push(!disconnect ? `${choice.sessions.length} connected session(s): ${list} — the restore refuses unless --force`
      : blocked === undefined ? `${choice.sessions.length} connected session(s) will be terminated: ${list}`
      : `${choice.sessions.length} connected session(s): ${list} — --force cannot end them: ${blocked}, so the restore refuses`);
  }
  return notes;
}

/**
 * What the plan says of the tables the target has and the archive lacks (a developer's own work),
 * compared as the manifest counts them, a partitioned table by its partitions:
 * a swap keeps them in the previous copy; in place they go with their schema when the dump fills it.
 */
export async function targetOnlyNotes(target: PgTarget, choice: StrategyChoice, archiveTables: string[]): Promise<string[]> {
  if (choice.strategy === 'tables' || !choice.privileges.targetExists) return [];
  const inArchive = new Set(archiveTables.map(unquoteName));
  const filledSchemas = new Set([...inArchive].map((name) => name.slice(0, name.indexOf('.'))));
  const own = await withClient(target, async (client) => (await client.query<{ schema: string; name: string }>(
    `SELECT n.nspname AS schema, c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
      ORDER BY 1, 2`,
  )).rows.filter((row) => !inArchive.has(`${row.schema}.${row.name}`)));
  if (own.length === 0) return [];
  const named = (rows: typeof own) => `${rows.slice(0, 10).map((row) => `${row.schema}.${row.name}`).join(', ')}${rows.length > 10 ? `, … (${rows.length} in all)` : ''}`;
  if (choice.strategy === 'swap') {
    return [`${plural(own.length, 'table')} only in the target, not in the archive, ${own.length === 1 ? 'stays' : 'stay'} in ${keptName(databaseOf(target.url), 'prev')} (ferry restore --undo): ${named(own)}`];
  }
  const dropped = own.filter((row) => filledSchemas.has(row.schema));
  const kept = own.filter((row) => !filledSchemas.has(row.schema));
  return [
    ...(dropped.length === 0 ? [] : [`${plural(dropped.length, 'table')} only in the target ${dropped.length === 1 ? 'is' : 'are'} dropped with ${dropped.length === 1 ? 'its' : 'their'} schema and not kept anywhere: ${named(dropped)}`]),
    ...(kept.length === 0 ? [] : [`${plural(kept.length, 'table')} only in the target, in schemas the dump does not fill, ${kept.length === 1 ? 'stays' : 'stay'} as ${kept.length === 1 ? 'it is' : 'they are'}: ${named(kept)}`]),
  ];
}

export interface PgRefreshRequest {
  tools: PgToolRunner;
  target: PgTarget;
  /** Manifest names of the tables restored, with their expected counts. */
  expected: Record<string, number>;
  /** --tables: the manifest names selected. */
  tables: string[] | undefined;
  mask: MaskSettings | undefined;
  jobs: number;
  disconnect: boolean;
  keepPristine: boolean;
  cascade: boolean;
  strategy: 'auto' | 'swap' | 'in-place';
  serverMajor: number;
  ctx: StoreContext;
}

interface Load {
  done: Promise<MaskedObjectStats[]>;
  commit: () => void;
}

const DEV_ARGS = ['--no-owner', '--no-privileges'];

/** How long a swap restore with --jobs waits for the dump to be staged before it loads it as it arrives. */
const QUICK_STAGING_MS = 2000;

/** 'yes' when `work` succeeded within `ms`, 'failed' when it failed within it, otherwise 'no' (it goes on). */
async function settledWithin(work: Promise<unknown>, ms: number): Promise<'yes' | 'no' | 'failed'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'no'>((resolveLate) => {
    timer = setTimeout(() => resolveLate('no'), ms);
  });
  try {
    return await Promise.race([work.then(() => 'yes' as const, () => 'failed' as const), late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The PostgreSQL side of a restore. "swap" builds the new copy in an empty database beside the
 * target and renames it in once everything was checked, keeping the replaced one for undo; the
 * other strategies load inside one transaction that commits only then. A failure before that point
 * leaves the target exactly as it was, whatever --jobs is.
 */
export async function preparePgRefresh(request: PgRefreshRequest): Promise<RestoreStaging> {
  const { tools, target, ctx } = request;
  const database = databaseOf(target.url);
  const choice = await chooseStrategy(target, request.strategy, request.tables);
  const notes: string[] = [choice.strategy === 'swap' ? `swapped in (${choice.reason})` : `strategy ${choice.strategy}: ${choice.reason}`];
  const newName = keptName(database, 'new');
  const started = Date.now();
  let createdTarget = false;
  await onMaintenance(target, async (client) => {
    const reopened = await reopenIfClosed(client, database);
    if (reopened !== undefined) notes.push(reopened);
    for (const leftover of [newName, keptName(database, 'pristine_new')]) {
      if (await dropKeptDatabase(client, leftover)) notes.push(`removed ${leftover}, left by an earlier restore that did not finish`);
    }
    if (choice.strategy !== 'tables' && choice.sessions.length > 0) {
      if (!request.disconnect) throw inUseError(database, choice.sessions);
      const { superusers, others } = unendable(choice);
      if (superusers.length > 0) {
        throw new FerryError('RESTORE_TARGET_IN_USE', `--force: role ${choice.privileges.role} may not end a superuser's sessions on ${database}: ${describeSessions(superusers)}`, {
          hint: 'Stop those clients, or restore as a superuser. Nothing was changed.',
        });
      }
      if (others.length > 0) {
        throw new FerryError('RESTORE_TARGET_IN_USE', `--force: role ${choice.privileges.role} may not end the sessions of other roles on ${database}: ${describeSessions(others)}`, {
          hint: `Stop those clients, or grant pg_signal_backend to ${choice.privileges.role}. Nothing was changed.`,
        });
      }
    }
    if (choice.strategy === 'swap') {
      await createBeside(client, newName, choice.privileges);
    } else if (!choice.privileges.targetExists) {
      await client.query(`CREATE DATABASE ${quoteIdent(database)}`);
      createdTarget = true;
    }
  });
  if (choice.strategy === 'tables') await refuseReferencedTables(target, request.tables ?? [], request.cascade, notes);

  const loadTarget: PgTarget = choice.strategy === 'swap' ? { ...target, url: withDatabase(target.url, newName) } : target;
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  // The archive's reading owns the progress line meanwhile.
  const loadCtx: StoreContext = { ...ctx, signal: stop.signal, progress: silentProgress };
  const customPath = join(ctx.tempDir, 'database.backup');
  const plainPath = join(ctx.tempDir, 'database.sql');
  const rules = request.mask?.rules.postgres ?? new Map<string, never>();
  const masked = rules.size > 0;
  let dumpStaged = false;
  let markStaged!: () => void;
  let stagingFailed!: (error: unknown) => void;
  const staged = new Promise<void>((resolveStaged, rejectStaged) => {
    markStaged = resolveStaged;
    stagingFailed = rejectStaged;
  });
  staged.catch(() => undefined);
  let plainStaged = false;
  let load: Load | undefined;
  let rulesChecked: Promise<void> | undefined;
  let committed = false;
  let counted: Promise<ObjectCount[]> | undefined;

  const startLoad = (source: DumpSource | { plainSql: string }, restoreArgs: string[], prelude: string): void => {
    let commit!: () => void;
    let cancel!: (reason: Error) => void;
    const decided = new Promise<void>((resolveDecided, rejectDecided) => {
      commit = resolveDecided;
      cancel = rejectDecided;
    });
    decided.catch(() => undefined);
    stop.signal.addEventListener('abort', () => cancel(new Error('the restore was called off before it was committed')), { once: true });
    const plainPg = choice.strategy === 'swap' && !masked && !('plainSql' in source);
    const done = plainPg
      ? pgRestoreBeside(source).then(() => [])
      : loadThroughPsql({ tools, target: loadTarget, ctx: loadCtx, source, restoreArgs, prelude, rules, masker: request.mask?.masker, commit: decided, expectedCounts: request.expected });
    done.catch(() => undefined);
    load = { done, commit };
  };

  /**
   * A staged dump loads with --jobs from its file. One still being staged (a stream) loads its
   * schema and rows as they are written, and, with --jobs, its indexes and constraints in parallel
   * from the file once it is whole: the load does not wait for a slow archive to be read.
   */
  const pgRestoreBeside = async (source: DumpSource): Promise<void> => {
    const env = yieldingToolOptions(choice.privileges.superuser);
    if (request.jobs <= 1) {
      await pgRestoreInto({ tools, target: loadTarget, source, jobs: 1, env, ctx: loadCtx });
      return;
    }
    if ('customDumpStream' in source) {
      await pgRestoreInto({ tools, target: loadTarget, source, jobs: 1, sections: ['pre-data', 'data'], env, ctx: loadCtx });
      await staged;
    }
    const keys = await keysLast();
    await pgRestoreInto({
      tools, target: loadTarget, source: { customDump: customPath }, jobs: request.jobs, env, ctx: loadCtx,
      ...('customDumpStream' in source ? { sections: ['post-data'] } : {}),
      ...(keys === undefined ? {} : { useList: keys.withoutKeys }),
    });
    if (keys === undefined) return;
    // Every row is in: the counts are taken beside the keys' checks, which read the rows and never change them.
    counted = restoredCounts(loadTarget, await expectedTables(request, customPath));
    counted.catch(() => undefined);
    const statements = await keys.statements;
    // Anything else than one statement per key: pg_restore adds them itself, one after another.
    if (statements.length === keys.count) await addForeignKeys(loadTarget, statements, request.jobs, stop.signal, yieldingSessionSql(choice.privileges.superuser));
    else await pgRestoreInto({ tools, target: loadTarget, source: { customDump: customPath }, jobs: 1, useList: keys.keysOnly, env, ctx: loadCtx });
  };

  /**
   * With --jobs, the dump's foreign keys are left out of pg_restore and added last, checked side
   * by side (foreign-keys.ts); their statements are read while the rest loads. Only with tools on
   * this machine: in a container each look at the dump would copy it in again.
   */
  const keysLast = async (): Promise<{ withoutKeys: string; keysOnly: string; count: number; statements: Promise<string[]> } | undefined> => {
    if (!tools.local) return undefined;
    const lists = splitKeyLists(await toolOutput(tools, ['--list'], customPath, ctx));
    if (lists === undefined) return undefined;
    const keysOnly = join(ctx.tempDir, 'keys.list');
    const withoutKeys = join(ctx.tempDir, 'without-keys.list');
    await writeFile(keysOnly, lists.keysOnly, { mode: 0o600 });
    await writeFile(withoutKeys, lists.withoutKeys, { mode: 0o600 });
    const statements = toolOutput(tools, [`--use-list=${keysOnly}`, '--file=-'], customPath, ctx).then(keyStatements);
    statements.catch(() => undefined);
    ctx.log.debug(`${lists.count} foreign key(s) are added after the load and checked side by side`);
    return { withoutKeys, keysOnly, count: lists.count, statements };
  };

  const startFromStagedDump = async (): Promise<void> => {
    if (choice.strategy === 'swap') {
      if (masked) {
        rulesChecked = checkMaskRules(tools, customPath, rules, ctx);
        rulesChecked.catch(() => undefined);
        if (!(await rulesChecked.then(() => true, () => false))) return;
        startLoad({ customDump: customPath }, DEV_ARGS, '');
      }
      return;
    }
    if (masked) {
      rulesChecked = checkMaskRules(tools, customPath, rules, ctx);
      rulesChecked.catch(() => undefined);
      if (!(await rulesChecked.then(() => true, () => false))) return;
    }
    const entries = parseToc(await toolOutput(tools, ['--list'], customPath, ctx));
    if (choice.strategy === 'in-place') {
      startLoad({ customDump: customPath }, DEV_ARGS, inPlacePrelude(entries, notes, request.disconnect && choice.sessions.length > 0));
      return;
    }
    const existing = await existingTables(target, request.tables ?? []);
    const selection = partialSelection(
      entries, request.tables ?? [], existing,
      await toolOutput(tools, ['--schema-only', '--section=pre-data', '--file=-'], customPath, ctx),
      await toolOutput(tools, ['--schema-only', '--section=post-data', '--file=-'], customPath, ctx),
    );
    if (selection.left.length > 0) notes.push(`left out (they need objects that were not selected): ${selection.left.join(', ')}`);
    const listPath = join(ctx.tempDir, 'tables.list');
    await writeFile(listPath, selection.list, { mode: 0o600 });
    const list = await tools.fileForTools(listPath, ctx.signal);
    startLoad({ customDump: customPath }, [...DEV_ARGS, `--use-list=${list.path}`], truncateStatement(existing, request.cascade));
    void load?.done.finally(() => list.cleanup()).catch(() => undefined);
  };

  const staging: RestoreStaging = {
    readAhead: ['database.backup'],
    // The plain SQL is for restoring by hand: only an archive without a custom dump (a masked one) loads from it.
    uses: (paths) => (paths.includes('database.backup') ? ['database.backup'] : paths.filter((path) => path === 'database.sql')),
    accept: async (_header: ArchiveEntryHeader, relativePath: string, data: Readable) => {
      if (relativePath === 'database.backup') {
        let written = false;
        const writing = pipeline(data, createWriteStream(customPath, { mode: 0o600 })).finally(() => {
          written = true;
        });
        if (choice.strategy === 'swap' && !masked) {
          // pg_restore --jobs loads tables side by side, but only from a whole file. A dump staged
          // soon (read from its seek point, or early in the archive) waits for that; one that takes
          // longer loads its schema and rows as it arrives instead (see pgRestoreBeside).
          const stagedSoon = request.jobs > 1 ? await settledWithin(writing, QUICK_STAGING_MS) : 'no';
          if (stagedSoon === 'yes') {
            ctx.log.debug(`the dump was staged within ${QUICK_STAGING_MS / 1000} s: pg_restore --jobs ${request.jobs} loads it from the file`);
            startLoad({ customDump: customPath }, DEV_ARGS, '');
          } else if (stagedSoon === 'no') {
            if (request.jobs > 1) ctx.log.debug(`the dump is still being staged after ${QUICK_STAGING_MS / 1000} s: its schema and rows load as it arrives, its indexes and constraints with --jobs ${request.jobs} once it is whole`);
            startLoad({ customDumpStream: Readable.from(followGrowingFile(customPath, () => written, stop.signal)) }, DEV_ARGS, '');
          }
        }
        await writing.then(markStaged, (error: unknown) => {
          stagingFailed(error);
          throw error;
        });
        dumpStaged = true;
        await startFromStagedDump();
      } else if (relativePath === 'database.sql' && !dumpStaged) {
        // Only a masked archive has plain SQL and no custom dump (which comes first otherwise).
        await pipeline(data, createWriteStream(plainPath, { mode: 0o600 }));
        plainStaged = true;
      } else {
        await drain(data);
      }
    },
    validate: async () => {
      if (masked && dumpStaged) await (rulesChecked ?? checkMaskRules(tools, customPath, rules, ctx));
      if (!dumpStaged && plainStaged && request.tables !== undefined) {
        throw new FerryError('USAGE', '--tables needs the custom-format dump, and this archive (a masked one) holds plain SQL only', { hint: 'Restore it whole.' });
      }
      if (!dumpStaged && !plainStaged) {
        throw new FerryError('ARCHIVE_ENTRY_MISSING', 'the archive has no postgresql/database.backup', { hint: 'Restore PostgreSQL by hand from postgresql/database.sql with psql, or use another backup.' });
      }
    },
    apply: async () => {
      // Every custom dump started its load while it was staged; only a masked archive's plain SQL
      // (written with --clean: it drops what it recreates) starts here.
      if (load === undefined) startLoad({ plainSql: plainPath }, [], '');
      const running = load as Load;
      ctx.progress.start(`loading into PostgreSQL: ${describeUrl(loadTarget.url)}`);
      running.commit();
      const masking = await running.done;
      ctx.progress.done('loaded');
      ctx.progress.start(`checking counts in ${describeUrl(loadTarget.url)}`);
      const counts = await (counted ?? restoredCounts(loadTarget, await expectedTables(request, dumpStaged ? customPath : undefined)));
      ctx.progress.done();
      if (choice.strategy === 'swap') {
        const wrong = counts.filter((c) => c.expected >= 0 && c.expected !== c.actual);
        if (wrong.length > 0) {
          const first = wrong[0];
          throw new FerryError('COUNT_MISMATCH', `${newName} holds other counts than the manifest in ${wrong.length} table(s), first ${first?.object}: expected ${first?.expected}, found ${first?.actual}`, {
            hint: `It was not swapped in: ${database} is as it was. ${COUNT_MISMATCH_CHECK}`,
          });
        }
        ctx.progress.start(`swapping ${newName} in as ${database}`);
        await swapIn(request, database, choice.privileges.targetExists, notes);
        ctx.progress.done();
      }
      committed = true;
      return {
        target: describeUrl(target.url),
        counts,
        durationSeconds: (Date.now() - started) / 1000,
        notes,
        ...(masking.length === 0 ? {} : { masking }),
      } satisfies StoreRestoreResult;
    },
    discard: async () => {
      ctx.signal.removeEventListener('abort', onAbort);
      if (committed) return;
      stop.abort();
      await load?.done.catch(() => undefined);
      await onMaintenance(target, async (client) => {
        if (choice.strategy === 'swap') {
          await dropKeptDatabase(client, newName);
          await dropKeptDatabase(client, keptName(database, 'pristine_new'));
        } else if (createdTarget) {
          await dropKeptDatabase(client, database);
        }
      }).catch((error: unknown) => ctx.log.warn(`could not remove what the restore built: ${(error as Error).message}`));
    },
  };
  return staging;
}

/** The swap itself: one transaction of renames; the replaced copies are dropped only after it. */
async function swapIn(request: PgRefreshRequest, database: string, targetExists: boolean, notes: string[]): Promise<void> {
  const { target, ctx } = request;
  const names = { new: keptName(database, 'new'), prev: keptName(database, 'prev'), old: keptName(database, 'old'), pristine: keptName(database, 'pristine'), pristineNew: keptName(database, 'pristine_new'), pristineOld: keptName(database, 'pristine_old') };
  await onMaintenance(target, async (client) => {
    const existing = new Set((await client.query<{ datname: string }>('SELECT datname FROM pg_database')).rows.map((r) => r.datname));
    if (request.keepPristine) await copyDatabase(client, names.new, names.pristineNew, request.serverMajor);
    const renames: SwapStep[] = [];
    if (targetExists && existing.has(names.prev)) renames.push({ from: names.prev, to: names.old });
    if (targetExists) renames.push({ from: database, to: names.prev });
    renames.push({ from: names.new, to: database });
    if (existing.has(names.pristine)) renames.push({ from: names.pristine, to: names.pristineOld });
    if (request.keepPristine) renames.push({ from: names.pristineNew, to: names.pristine });
    const swapStarted = Date.now();
    await swapDatabases(client, database, renames, request.disconnect);
    notes.push(`the target was unavailable for ${Date.now() - swapStarted} ms while swapping`);
    if (targetExists) notes.push(`the previous ${database} is kept as ${names.prev} (ferry restore --undo)`);
    if (request.keepPristine) notes.push(`a pristine copy is kept as ${names.pristine} (ferry reset)`);
    for (const name of [names.old, names.pristineOld]) {
      await dropKeptDatabase(client, name).catch((error: unknown) => ctx.log.warn(`could not drop ${name}: ${(error as Error).message}`));
    }
  });
}

/**
 * Drops every schema the dump fills and creates again those it does not create itself. With
 * --force, the target's other sessions are ended first, inside the transaction: a session left
 * holding a lock would make the drops wait for it.
 */
function inPlacePrelude(entries: ReturnType<typeof parseToc>, notes: string[], disconnect: boolean): string {
  const schemas = dumpedSchemas(entries);
  notes.push(`drops schemas ${schemas.all.join(', ')} (CASCADE, with everything in them, extensions included) and loads them from the dump`);
  const terminate = disconnect ? [TERMINATE_OTHER_SESSIONS] : [];
  if (disconnect) notes.push('the sessions connected to the target were terminated (--force)');
  const drops = schemas.all.map((s) => `DROP SCHEMA IF EXISTS ${quoteIdent(s)} CASCADE;`);
  // public, which a dump does not create, gets back the USAGE every role has on a new database's.
  const creates = schemas.all.filter((s) => !schemas.created.includes(s))
    .map((s) => `CREATE SCHEMA ${quoteIdent(s)};${s === 'public' ? ' GRANT USAGE ON SCHEMA public TO PUBLIC;' : ''}`);
  return [...terminate, ...drops, ...creates].join('\n');
}

const TERMINATE_OTHER_SESSIONS = `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
  WHERE datname = current_database() AND pid <> pg_backend_pid() AND ${CLIENT_SESSION};`;

function truncateStatement(existing: Set<string>, cascade: boolean): string {
  if (existing.size === 0) return '';
  return `TRUNCATE ${[...existing].map((t) => t.split('.').map(quoteIdent).join('.')).join(', ')}${cascade ? ' CASCADE' : ''};`;
}

/** The selected tables that the target already has ("schema.name", unquoted). */
async function existingTables(target: PgTarget, tables: string[]): Promise<Set<string>> {
  const names = tables.map(unquoteName);
  return withClient(target, async (client) => {
    const rows = await client.query<{ name: string }>(
      `SELECT n.nspname || '.' || c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND n.nspname || '.' || c.relname = ANY($1)`,
      [names],
    );
    return new Set(rows.rows.map((r) => r.name));
  });
}

/** TRUNCATE of a table that unselected tables reference would fail or, with CASCADE, empty them: said first (in the plan too). */
export async function refuseReferencedTables(target: PgTarget, tables: string[], cascade: boolean, notes: string[]): Promise<void> {
  const names = tables.map(unquoteName);
  const referencing = await withClient(target, async (client) => (await client.query<{ referencing: string; referenced: string }>(
    `SELECT DISTINCT rn.nspname || '.' || r.relname AS referencing, fn.nspname || '.' || f.relname AS referenced
       FROM pg_constraint k
       JOIN pg_class r ON r.oid = k.conrelid JOIN pg_namespace rn ON rn.oid = r.relnamespace
       JOIN pg_class f ON f.oid = k.confrelid JOIN pg_namespace fn ON fn.oid = f.relnamespace
      WHERE k.contype = 'f' AND fn.nspname || '.' || f.relname = ANY($1) AND NOT (rn.nspname || '.' || r.relname = ANY($1))
      ORDER BY 1`,
    [names],
  )).rows);
  if (referencing.length === 0) return;
  const list = referencing.map((r) => `${r.referencing} → ${r.referenced}`).join(', ');
  if (!cascade) {
    throw new FerryError('RESTORE_TABLES_REFERENCED', `--tables: other tables reference the selected ones: ${list}`, {
      hint: `Add them to --tables, or pass --cascade to empty them too (TRUNCATE … CASCADE). Nothing was changed.`,
    });
  }
  notes.push(`--cascade also empties ${[...new Set(referencing.map((r) => r.referencing))].join(', ')}`);
}

/**
 * The tables whose rows are counted after the load: the manifest's, or for an archive of the old
 * scripts (no manifest, so no counts) every table with data in the dump, its count unknown (-1).
 */
async function expectedTables(request: PgRefreshRequest, customPath: string | undefined): Promise<Record<string, number>> {
  if (Object.keys(request.expected).length > 0 || request.tables !== undefined || customPath === undefined) return request.expected;
  const entries = parseToc(await toolOutput(request.tools, ['--list'], customPath, request.ctx));
  const name = (part: string) => (/^[a-z_][a-z0-9_$]*$/.test(part) ? part : quoteIdent(part));
  return Object.fromEntries(entries.filter((e) => e.desc === 'TABLE DATA').map((e) => [`${name(e.schema)}.${name(e.tag)}`, -1]));
}

/** What pg_restore prints about the dump (its list, its schema: never its rows), through a file: it may be long. */
async function toolOutput(tools: PgToolRunner, args: string[], dumpPath: string, ctx: StoreContext): Promise<string> {
  const file = await tools.fileForTools(dumpPath, ctx.signal);
  const outPath = join(ctx.tempDir, `pg_restore-${args.join('').replace(/\W/g, '')}.txt`);
  const result = await tools.run('pg_restore', [...args, file.path], { signal: ctx.signal, stdout: createWriteStream(outPath, { mode: 0o600 }) }).finally(() => file.cleanup());
  if (result.exitCode !== 0) {
    throw new FerryError('PG_RESTORE_FAILED', `pg_restore could not read the dump: ${ctx.redactor.redact(lastLine(result.stderr))}`, { hint: 'Run ferry verify on the archive. Nothing was changed.' });
  }
  const text = await readFile(outPath, 'utf8');
  await rm(outPath, { force: true });
  return text;
}
