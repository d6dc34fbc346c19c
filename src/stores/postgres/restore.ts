import { FerryError } from '../../errors/index.js';
import { lastLine } from '../../process/index.js';
import type { ObjectCount, StoreContext, StoreRestoreResult } from '../store.js';
import { databaseExists, databaseOf, describeUrl, toolEnv, toolFailure, withClient, withDatabase, type PgTarget } from './connection.js';
import { countRows } from './store.js';
import type { PgToolRunner } from './runner.js';
import { CopyMasker } from './copy-masker.js';
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
  const actual = await countRows(target, Object.keys(expected));
  const counts: ObjectCount[] = Object.entries(expected).map(([object, n]) => ({ object, expected: n, actual: actual[object] ?? -1 }));
  return { target: describeUrl(target.url), counts, durationSeconds: (Date.now() - started) / 1000 };
}

/** Creates the target database when it does not exist yet: an empty database loses nothing. */
async function ensureDatabase(target: PgTarget, ctx: StoreContext): Promise<void> {
  if (await databaseExists(target)) return;
  const name = databaseOf(target.url);
  await withClient({ ...target, url: withDatabase(target.url, 'postgres') }, async (client) => {
    await client.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
    ctx.log.info(`created database ${name}`);
  });
}

export interface MaskedPgRestoreRequest extends Omit<PgRestoreRequest, 'jobs'> {
  rules: Map<string, Map<string, Transformer>>;
  masker: Masker;
}

/**
 * The masked path: `pg_restore -f -` writes plain SQL, CopyMasker rewrites the rows of tables with
 * rules, and psql loads it in one transaction, so unmasked values never reach the target. A failure
 * on either side stops both, and the transaction is rolled back.
 */
export async function applyMaskedPgRestore(request: MaskedPgRestoreRequest): Promise<StoreRestoreResult> {
  const { tools, target, dumpPath, expected, tables, ctx } = request;
  const started = Date.now();
  await ensureDatabase(target, ctx);
  const env = toolEnv(target);
  const file = await tools.fileForTools(dumpPath, ctx.signal);
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  const masking = new CopyMasker(request.rules, request.masker);
  let firstFailure: unknown;
  const failed = (error: unknown) => {
    firstFailure ??= error;
    stop.abort();
    throw error;
  };
  ctx.progress.start(`masked restore into ${describeUrl(target.url)}`);
  try {
    const restoreArgs = ['--clean', '--if-exists', '--no-owner', '--no-privileges', ...(tables ?? []).map((t) => `--table=${t}`), '--file=-', file.path];
    const psqlArgs = ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '--single-transaction', '--no-password', tools.dbnameArg(target.url), '-f', '-'];
    const loading = tools.run('psql', psqlArgs, { env, signal: stop.signal, stdin: masking }).catch(failed);
    const producing = tools.run('pg_restore', restoreArgs, { env, signal: stop.signal, stdout: masking }).catch(failed);
    const [produced, loaded] = await Promise.all([producing, loading]);
    for (const [tool, result] of [['pg_restore', produced], ['psql', loaded]] as const) {
      if (result.exitCode === 0) continue;
      const line = ctx.redactor.redact(lastLine(result.stderr));
      throw toolFailure(target.url, tool, line, new FerryError('PG_RESTORE_FAILED', `masked restore into ${describeUrl(target.url)} failed in ${tool}: ${line}`, {
        hint: 'The single transaction was rolled back, so the target is as it was. Fix the cause and run the restore again.',
      }));
    }
  } catch (error) {
    if (ctx.signal.aborted) throw error;
    throw firstFailure ?? error;
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
    await file.cleanup();
  }
  const stats = [...masking.stats.values()];
  ctx.progress.done(`masked ${stats.reduce((n, s) => n + s.masked, 0)} values in ${stats.length} tables`);
  const actual = await countRows(target, Object.keys(expected));
  const counts: ObjectCount[] = Object.entries(expected).map(([object, n]) => ({ object, expected: n, actual: actual[object] ?? -1 }));
  return { target: describeUrl(target.url), counts, durationSeconds: (Date.now() - started) / 1000, masking: stats };
}
