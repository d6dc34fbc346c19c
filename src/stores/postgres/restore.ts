import { FerryError } from '../../errors/index.js';
import { lastLine, type ToolResult } from '../../process/index.js';
import type { MaskedObjectStats, ObjectCount, StoreContext, StoreRestoreResult } from '../store.js';
import { databaseExists, databaseOf, describeUrl, toolEnv, toolFailure, withClient, withDatabase, type PgTarget } from './connection.js';
import { countRows } from './store.js';
import type { PgToolRunner } from './runner.js';
import { createReadStream, createWriteStream } from 'node:fs';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CopyMasker } from './copy-masker.js';
import { tableColumns } from './ddl-columns.js';
import type { Masker, Transformer } from '../../mask/transformers.js';

export interface PgRestoreRequest {
  tools: PgToolRunner;
  target: PgTarget;
  dumpPath: string;
  expected: Record<string, number>;
  jobs: number | undefined;
  /** pg_restore --table selections; every table when undefined. */
  tables: string[] | undefined;
  ctx: StoreContext;
}

/**
 * pg_restore with the development defaults: no owners, no grants, and one transaction so a failure
 * leaves the target exactly as it was. --jobs trades that guarantee for speed.
 */
export async function applyPgRestore(request: PgRestoreRequest): Promise<StoreRestoreResult> {
  const { tools, target, dumpPath, expected, jobs, tables, ctx } = request;
  const started = Date.now();
  await ensureDatabase(target, ctx);
  const env = toolEnv(target);
  const args = ['--clean', '--if-exists', '--no-owner', '--no-privileges', '--no-password', '--exit-on-error'];
  for (const table of tables ?? []) args.push(`--table=${table}`);
  if (jobs !== undefined && jobs > 1) args.push(`--jobs=${jobs}`);
  else args.push('--single-transaction');
  // pg_restore needs a seekable file: restore order is not file order.
  const file = await tools.fileForTools(dumpPath, ctx.signal);
  args.push(tools.dbnameArg(target.url), file.path);
  ctx.progress.start(`pg_restore into ${describeUrl(target.url)}`);
  const result = await tools.run('pg_restore', args, { env, signal: ctx.signal }).finally(() => file.cleanup());
  if (result.exitCode !== 0) {
    const line = ctx.redactor.redact(lastLine(result.stderr));
    const state = jobs !== undefined && jobs > 1
      ? 'with --jobs there was no single transaction, so the target may be partly restored'
      : 'the single transaction was rolled back, so the target is as it was';
    throw toolFailure(target.url, 'pg_restore', line, new FerryError('PG_RESTORE_FAILED', `pg_restore into ${describeUrl(target.url)} failed: ${line}`, {
      hint: `Nothing was committed unless stated: ${state}. Fix the cause (often an object in the target that depends on a restored table) and run the restore again.`,
    }));
  }
  ctx.progress.done('pg_restore finished');
  return { target: describeUrl(target.url), counts: await restoredCounts(target, expected), durationSeconds: (Date.now() - started) / 1000 };
}

/** Each table's expected count beside what the target now holds (-1 for a table that is not there). */
async function restoredCounts(target: PgTarget, expected: Record<string, number>): Promise<ObjectCount[]> {
  const actual = await countRows(target, Object.keys(expected));
  return Object.entries(expected).map(([object, n]) => ({ object, expected: n, actual: actual[object] ?? -1 }));
}

/** Creates the target database when it does not exist yet: an empty database loses nothing. */
async function ensureDatabase(target: PgTarget, ctx: StoreContext): Promise<void> {
  if (await databaseExists(target)) return;
  await onServer(target, (name) => `CREATE DATABASE ${name}`);
  ctx.log.info(`created database ${databaseOf(target.url)}`);
}

/** Removes a database Ferry created itself (a restore that was called off leaves nothing behind). */
export async function dropCreatedDatabase(target: PgTarget): Promise<void> {
  await onServer(target, (name) => `DROP DATABASE IF EXISTS ${name}`);
}

/** Runs a statement about the target database from the server's maintenance database. */
async function onServer(target: PgTarget, statement: (quotedName: string) => string): Promise<void> {
  const name = `"${databaseOf(target.url).replace(/"/g, '""')}"`;
  await withClient({ ...target, url: withDatabase(target.url, 'postgres') }, async (client) => {
    await client.query(statement(name));
  });
}

export interface StreamedPgRestoreRequest extends Omit<PgRestoreRequest, 'jobs' | 'dumpPath'> {
  /**
   * A custom-format dump (read by pg_restore -f -) as a file or as a stream of its bytes in order,
   * or plain SQL written with --clean (a masked archive's).
   */
  source: { customDump: string } | { customDumpStream: Readable } | { plainSql: string };
  rules: Map<string, Map<string, Transformer>>;
  /** Needed when there are rules. */
  masker: Masker | undefined;
  /**
   * When given, psql's input ends, so its transaction commits, only once this resolves: the restore
   * can run while the rest of the archive is still being checked. Rejecting it rolls everything back.
   */
  commit?: Promise<void>;
}

/**
 * The streamed path: `pg_restore -f -` (or a masked archive's plain SQL) goes through CopyMasker,
 * which rewrites the rows of tables with rules, into psql, in one transaction, so unmasked values
 * never reach the target. A failure on either side stops both, and the transaction is rolled back:
 * Ferry holds the end of psql's input, and psql commits only when its input ends.
 */
export async function applyStreamedPgRestore(request: StreamedPgRestoreRequest): Promise<StoreRestoreResult> {
  const { tools, target, expected, tables, ctx } = request;
  const started = Date.now();
  await ensureDatabase(target, ctx);
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
  ctx.progress.start(`${request.rules.size > 0 ? 'masked restore' : 'psql'} into ${describeUrl(target.url)}`);
  const running: Array<Promise<unknown>> = [];
  try {
    // psql commits when its input ends: only after pg_restore has exited cleanly (a dump it could
    // not read to the end would otherwise commit half a table) and after the caller's commit.
    let producerSucceeded!: () => void;
    const produced = new Promise<void>((resolveProduced) => (producerSucceeded = resolveProduced));
    const psqlInput = masking.pipe(endingOnlyAfter(Promise.all([produced, request.commit]).then(() => undefined), stop.signal));
    masking.once('error', (error) => psqlInput.destroy(error));
    const psqlArgs = ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '--single-transaction', '--no-password', tools.dbnameArg(target.url), '-f', '-'];
    // A tool that fails stops the other at once: psql must not wait for a commit that cannot come.
    const succeeded = (tool: 'pg_restore' | 'psql') => (result: ToolResult) => {
      if (result.exitCode === 0) {
        if (tool === 'pg_restore') producerSucceeded();
        return;
      }
      // psql prefixes its errors with the input's name and line: "psql:<stdin>:42: ERROR: …".
      const line = ctx.redactor.redact(lastLine(result.stderr)).replace(/^psql:[^:]*:\d+: /, '');
      failed(toolFailure(target.url, tool, line, new FerryError('PG_RESTORE_FAILED', `restore into ${describeUrl(target.url)} failed in ${tool}: ${line}`, {
        hint: 'Nothing was committed: the single transaction was rolled back, so the target is as it was. Fix the cause (often an object in the target that depends on a restored table) and run the restore again.',
      })));
    };
    const loading = tools.run('psql', psqlArgs, { env, signal: stop.signal, stdin: psqlInput }).then(succeeded('psql'), failed);
    const pgRestoreArgs = ['--clean', '--if-exists', '--no-owner', '--no-privileges', ...(tables ?? []).map((t) => `--table=${t}`), '--file=-'];
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
  const stats = masking instanceof CopyMasker ? [...masking.stats.values()] : [];
  ctx.progress.done(stats.length === 0 ? 'psql finished' : `masked ${stats.reduce((n, s) => n + s.masked, 0)} values in ${stats.length} tables`);
  const counts = await restoredCounts(target, expected);
  return { target: describeUrl(target.url), counts, durationSeconds: (Date.now() - started) / 1000, ...(stats.length === 0 ? {} : { masking: stats }) };
}

/** Passes everything on, but ends only once `commit` resolves (and fails when it rejects or `signal` fires). */
function endingOnlyAfter(commit: Promise<void>, signal: AbortSignal): Transform {
  const decided = new Promise<void>((resolveDecided, rejectDecided) => {
    const onAbort = () => rejectDecided(new Error('restore stopped'));
    signal.addEventListener('abort', onAbort, { once: true });
    commit.then(resolveDecided, rejectDecided).finally(() => signal.removeEventListener('abort', onAbort));
  });
  // Settled long before the end of the input, perhaps: handled here, acted on in flush.
  decided.catch(() => undefined);
  return new Transform({
    transform: (chunk: Buffer, _encoding, callback) => callback(null, chunk),
    flush: (callback) => {
      decided.then(() => callback(), (error: unknown) => callback(error as Error));
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
