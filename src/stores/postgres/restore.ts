import { FerryError } from '../../errors/index.js';
import { lastLine, type ToolResult } from '../../process/index.js';
import type { MaskedObjectStats, ObjectCount, StoreContext } from '../store.js';
import { describeUrl, toolEnv, toolFailure, type PgTarget } from './connection.js';
import { countRows } from './store.js';
import type { PgToolRunner } from './runner.js';
import { createReadStream, createWriteStream } from 'node:fs';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CopyMasker } from './copy-masker.js';
import { tableColumns } from './ddl-columns.js';
import type { Masker, Transformer } from '../../mask/transformers.js';

/** What pg_restore reads: the staged dump as a file (seekable: needed by --jobs), or its bytes in order. */
export type DumpSource = { customDump: string } | { customDumpStream: Readable };

export interface PgRestoreIntoRequest {
  tools: PgToolRunner;
  /** The database to load: an empty one, built beside the target. */
  target: PgTarget;
  source: DumpSource;
  jobs: number;
  /** pg_restore --section values; all sections when absent. */
  sections?: Array<'pre-data' | 'data' | 'post-data'>;
  /** A pg_restore --use-list file on this machine: only its entries are restored. */
  useList?: string;
  /** Extra environment for pg_restore (PGOPTIONS: settings for its sessions). */
  env?: Record<string, string>;
  ctx: StoreContext;
}

/**
 * pg_restore straight into an empty database with the development defaults (no owners, no grants,
 * stop at the first error). No transaction is needed: a database that fails to load is dropped.
 */
export async function pgRestoreInto(request: PgRestoreIntoRequest): Promise<void> {
  const { tools, target, source, ctx } = request;
  const jobs = 'customDump' in source ? request.jobs : 1;
  const sections = (request.sections ?? []).map((section) => `--section=${section}`);
  const args = ['--no-owner', '--no-privileges', '--no-password', '--exit-on-error', ...sections, ...(jobs > 1 ? [`--jobs=${jobs}`] : []), tools.dbnameArg(target.url)];
  const list = request.useList === undefined ? undefined : await tools.fileForTools(request.useList, ctx.signal);
  const file = 'customDump' in source ? await tools.fileForTools(source.customDump, ctx.signal) : undefined;
  const withList = list === undefined ? args : [...args, `--use-list=${list.path}`];
  const result = await tools.run('pg_restore', file === undefined ? withList : [...withList, file.path], {
    env: { ...toolEnv(target), ...request.env }, signal: ctx.signal, ...('customDumpStream' in source ? { stdin: source.customDumpStream } : {}),
  }).finally(() => Promise.all([file?.cleanup(), list?.cleanup()]));
  if (result.exitCode !== 0) throw restoreFailure(target, 'pg_restore', result, ctx, `the database being built beside the target was dropped; the target is as it was`);
}

function restoreFailure(target: PgTarget, tool: string, result: ToolResult, ctx: StoreContext, state: string): FerryError {
  // psql prefixes its errors with the input's name and line: "psql:<stdin>:42: ERROR: …".
  const line = ctx.redactor.redact(lastLine(result.stderr)).replace(/^psql:[^:]*:\d+: /, '');
  return toolFailure(target.url, tool, line, new FerryError('PG_RESTORE_FAILED', `restore into ${describeUrl(target.url)} failed in ${tool}: ${line}`, {
    hint: `Nothing was committed: ${state}. Fix the cause and run the restore again.`,
  }));
}

/** Each table's expected count beside what a database holds (-1 for a table that is not there). */
export async function restoredCounts(target: PgTarget, expected: Record<string, number>): Promise<ObjectCount[]> {
  const actual = await countRows(target, Object.keys(expected), true);
  return Object.entries(expected).map(([object, n]) => ({ object, expected: n, actual: actual[object] ?? -1 }));
}

export interface PsqlLoadRequest {
  tools: PgToolRunner;
  target: PgTarget;
  ctx: StoreContext;
  /**
   * A custom-format dump turned into SQL by `pg_restore -f -` with `restoreArgs`, or plain SQL
   * (a masked archive's, written with --clean).
   */
  source: DumpSource | { plainSql: string };
  restoreArgs: string[];
  /** SQL run first, inside the transaction: the drops of an in-place restore, the TRUNCATE of a partial one. */
  prelude: string;
  /**
   * Tables (as the manifest names them) and the rows each must hold at the end: checked inside the
   * transaction, before COMMIT, so a load that came out short is rolled back. -1: not checked.
   */
  expectedCounts?: Record<string, number>;
  rules: Map<string, Map<string, Transformer>>;
  /** Needed when there are rules. */
  masker: Masker | undefined;
  /**
   * When given, the transaction commits only once this resolves: the load can run while the rest
   * of the archive is still being checked. Rejecting it rolls everything back.
   */
  commit?: Promise<void>;
}

/** What to look at when the rows disagree with the manifest's counts (the end of COUNT_MISMATCH's hint). */
export const COUNT_MISMATCH_CHECK = 'Run ferry verify on the archive; if it passes, the .manifest.json sidecar beside it, where the expected counts come from, may not be its own (compare with tar -xzOf <archive> manifest.json).';

/**
 * The SQL path: `pg_restore -f -` (or plain SQL) goes through CopyMasker, which rewrites the rows
 * of tables with rules, into psql. Ferry writes BEGIN and COMMIT itself and writes COMMIT only
 * after pg_restore exited cleanly and the caller's commit came: input that ends any other way
 * (Ferry SIGKILLed, pg_restore cut short) ends psql's session inside the transaction, which the
 * server rolls back. psql's own --single-transaction would commit whatever it had received.
 */
export async function loadThroughPsql(request: PsqlLoadRequest): Promise<MaskedObjectStats[]> {
  const { tools, target, ctx } = request;
  const env = toolEnv(target);
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  const masking = request.rules.size > 0 ? new CopyMasker(request.rules, request.masker) : new PassThrough({ highWaterMark: 1024 * 1024 });
  let firstFailure: unknown;
  const failed = (error: unknown) => {
    firstFailure ??= error;
    stop.abort();
    throw error;
  };
  const source = request.source;
  const file = 'customDump' in source ? await tools.fileForTools(source.customDump, ctx.signal) : undefined;
  const running: Array<Promise<unknown>> = [];
  try {
    let producerSucceeded!: () => void;
    const produced = new Promise<void>((resolveProduced) => (producerSucceeded = resolveProduced));
    const psqlInput = masking.pipe(framedInTransaction(request.prelude, countCheck(request.expectedCounts ?? {}), Promise.all([produced, request.commit]).then(() => undefined), stop.signal));
    masking.once('error', (error) => psqlInput.destroy(error));
    const psqlArgs = ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '--no-password', tools.dbnameArg(target.url), '-f', '-'];
    // A tool that fails stops the other at once: psql must not wait for a commit that cannot come.
    const succeeded = (tool: 'pg_restore' | 'psql') => (result: ToolResult) => {
      if (result.exitCode === 0) {
        if (tool === 'pg_restore') producerSucceeded();
        return;
      }
      const short = COUNT_CHECK_FAILURE.exec(result.stderr);
      if (tool === 'psql' && short !== null) {
        failed(new FerryError('COUNT_MISMATCH', `${short[1]} would hold ${short[2]} rows after the restore, the manifest says ${short[3]}`, {
          hint: `Nothing was committed: the transaction was rolled back, so the target is as it was. ${COUNT_MISMATCH_CHECK}`,
        }));
        return;
      }
      failed(restoreFailure(target, tool, result, ctx, 'the transaction was rolled back, so the target is as it was'));
    };
    const loading = tools.run('psql', psqlArgs, { env, signal: stop.signal, stdin: psqlInput }).then(succeeded('psql'), failed);
    const pgRestoreArgs = [...request.restoreArgs, '--file=-'];
    const producing = 'plainSql' in source
      ? pipeline(createReadStream(source.plainSql), masking, { signal: stop.signal }).then(() => producerSucceeded(), failed)
      : tools.run('pg_restore', file === undefined ? pgRestoreArgs : [...pgRestoreArgs, file.path], {
        env, signal: stop.signal, stdout: masking, ...('customDumpStream' in source ? { stdin: source.customDumpStream } : {}),
      }).then(succeeded('pg_restore'), failed);
    running.push(producing, loading);
    await Promise.all(running);
  } catch (error) {
    await Promise.allSettled(running);
    if (ctx.signal.aborted) throw error;
    throw firstFailure ?? error;
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
    await file?.cleanup();
  }
  return masking instanceof CopyMasker ? [...masking.stats.values()] : [];
}

const COUNT_CHECK_FAILURE = /ferry count check: (\S+) holds (\d+) rows, the manifest says (\d+)/;

/** A DO block that raises (so psql stops and the transaction rolls back) when a table holds other than its expected rows. */
function countCheck(expected: Record<string, number>): string {
  const checks = Object.entries(expected).filter(([, rows]) => rows >= 0).map(([table, rows]) => {
    const literal = `'${table.replace(/'/g, "''")}'`;
    return `  SELECT count(*) INTO found FROM ONLY ${table};\n  IF found <> ${rows} THEN RAISE EXCEPTION 'ferry count check: % holds % rows, the manifest says %', ${literal}, found, ${rows}; END IF;`;
  });
  if (checks.length === 0) return '';
  return `DO $ferry_counts$\nDECLARE found bigint;\nBEGIN\n${checks.join('\n')}\nEND\n$ferry_counts$;\n`;
}

/**
 * Puts BEGIN and the prelude before the SQL, and the count check and COMMIT after it, but writes
 * them and ends only once `commit` resolves (and fails when it rejects or `signal` fires).
 */
function framedInTransaction(prelude: string, check: string, commit: Promise<void>, signal: AbortSignal): Transform {
  const decided = new Promise<void>((resolveDecided, rejectDecided) => {
    const onAbort = () => rejectDecided(new Error('restore stopped'));
    signal.addEventListener('abort', onAbort, { once: true });
    commit.then(resolveDecided, rejectDecided).finally(() => signal.removeEventListener('abort', onAbort));
  });
  // Settled long before the end of the input, perhaps: handled here, acted on in flush.
  decided.catch(() => undefined);
  let begun = false;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (!begun) {
        begun = true;
        this.push(`BEGIN;\n${prelude}\n`);
      }
      callback(null, chunk);
    },
    flush(callback) {
      decided.then(() => {
        if (!begun) this.push(`BEGIN;\n${prelude}\n`);
        callback(null, `${check}COMMIT;\n`);
      }, (error: unknown) => callback(error as Error));
    },
  });
}

/**
 * For `ferry mask`: plain SQL with --clean from a custom dump, with the rows of ruled tables masked
 * on the way to the file. Every ruled table and column must exist in the dump.
 */
export async function writeMaskedSql(tools: PgToolRunner, dumpPath: string, outPath: string, rules: Map<string, Map<string, Transformer>>, masker: Masker, ctx: StoreContext): Promise<MaskedObjectStats[]> {
  await checkMaskRules(tools, dumpPath, rules, ctx);
  const masking = new CopyMasker(rules, masker);
  const writing = pipeline(masking, createWriteStream(outPath, { mode: 0o600 }));
  writing.catch(() => undefined);
  const file = await tools.fileForTools(dumpPath, ctx.signal);
  const result = await tools.run('pg_restore', ['--clean', '--if-exists', '--no-owner', '--no-privileges', '--file=-', file.path], { signal: ctx.signal, stdout: masking }).finally(() => file.cleanup());
  await writing;
  if (result.exitCode !== 0) throw new FerryError('PG_DUMP_FAILED', `pg_restore could not read the dump: ${ctx.redactor.redact(lastLine(result.stderr))}`, { hint: 'Run ferry verify on the archive.' });
  return [...masking.stats.values()];
}

/** Every masked table and column must exist in the dump: checked before anything is restored. */
export async function checkMaskRules(tools: PgToolRunner, dumpPath: string, rules: Map<string, Map<string, Transformer>>, ctx: StoreContext): Promise<void> {
  if (rules.size === 0) return;
  const file = await tools.fileForTools(dumpPath, ctx.signal);
  // Only the ruled tables' definitions (--table matches bare names): small, whatever the schema's size.
  const selection = [...new Set([...rules.keys()].map((t) => `--table=${t.slice(t.indexOf('.') + 1)}`))];
  const ddl = await tools.run('pg_restore', ['--schema-only', '--section=pre-data', '--no-owner', '--no-privileges', ...selection, '--file=-', file.path], { signal: ctx.signal }).finally(() => file.cleanup());
  if (ddl.exitCode !== 0) throw new FerryError('PG_RESTORE_FAILED', `pg_restore could not read the dump's table definitions: ${ctx.redactor.redact(lastLine(ddl.stderr))}`, { hint: 'Run ferry verify on the archive.' });
  const tables = tableColumns(ddl.stdout);
  for (const [table, columns] of rules) {
    const present = tables.get(table);
    if (present === undefined) {
      throw new FerryError('MASK_RULE_UNKNOWN', `mask rule for table ${table}: the dump has no such table`, { hint: `Fix mask.postgres in the config; the dump's tables are ${[...tables.keys()].join(', ') || 'none'}. Nothing was restored.` });
    }
    for (const column of columns.keys()) {
      if (!present.includes(column)) {
        throw new FerryError('MASK_RULE_UNKNOWN', `mask rule ${table}.${column}: table ${table} has no column ${column}`, { hint: `Its columns are ${present.join(', ')}. Nothing was restored.` });
      }
    }
  }
}
