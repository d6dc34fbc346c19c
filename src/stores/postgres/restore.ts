import { FerryError } from '../../errors/index.js';
import { lastLine } from '../../process/index.js';
import type { ObjectCount, StoreContext, StoreRestoreResult } from '../store.js';
import { databaseExists, databaseOf, describeUrl, toolEnv, toolFailure, withClient, withDatabase, type PgTarget } from './connection.js';
import { countRows } from './store.js';
import type { PgToolRunner } from './runner.js';

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
