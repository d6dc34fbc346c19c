import { createWriteStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { StoreManifest } from '../../archive/index.js';
import type { PostgresConfig } from '../../config/index.js';
import { FerryError } from '../../errors/index.js';
import { lastLine } from '../../process/index.js';
import { type DatabaseCheck, type KeptCopy, type PreflightReport, type RestoreOptions, type RestoreStaging, type RestoreTarget, type StagedDump, type Store, type StoreContext } from '../store.js';
import { databaseOf, describeUrl, toolEnv, toolFailure, withClient, withDatabase, type PgTarget } from './connection.js';
import { CopyRowCounter } from './copy-counter.js';
import { chooseStrategy, preparePgRefresh, refuseReferencedTables, strategyNotes, targetOnlyNotes } from './refresh.js';
import { copyDatabase, databaseNames, dropKeptDatabase, keptName, onMaintenance, reopenIfClosed, swapDatabases } from './databases.js';
import { serverFacts } from './server.js';
import { choosePgTools, majorOf, type ToolChoice } from './tools.js';
import type { PgToolRunner } from './runner.js';
import { formatBytes, plural } from '../../util/format.js';
import { hostsOfUrl } from '../../util/url.js';
import { followGrowingFile } from '../../util/follow-file.js';
import { expectedDumpBytes, followDump, withoutVerboseLines } from './dump-progress.js';

export const CUSTOM_DUMP_ENTRY = 'postgresql/database.backup';
export const PLAIN_SQL_ENTRY = 'postgresql/database.sql';

export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  readonly archivePrefix = 'postgresql/';
  private tools: PgToolRunner | undefined;
  private serverVersion: string | undefined;

  /** `dumpCompression`: pg_dump --compress, resolved against the archive's codec (config/compression.ts). */
  constructor(private readonly config: PostgresConfig, private readonly dumpCompression: number) {}

  private get target(): PgTarget {
    return { url: this.config.url, connectTimeoutSeconds: this.config.connect_timeout_seconds, exec: this.config.exec };
  }

  describe(options: Pick<RestoreOptions, 'toDatabase'> = {}): string {
    return describeUrl(options.toDatabase === undefined ? this.config.url : withDatabase(this.config.url, options.toDatabase));
  }

  async preflight(ctx: StoreContext): Promise<PreflightReport> {
    const facts = await serverFacts(this.target);
    this.serverVersion = facts.version;
    this.tools = await choosePgTools(facts.major, `server ${this.describe()} runs PostgreSQL ${facts.version} and`, this.toolChoice, ctx.signal);
    return {
      summary: `${this.describe()}: PostgreSQL ${facts.version}, ${formatBytes(facts.databaseBytes)} on disk, pg_dump ${this.tools.version} from ${this.tools.where}`,
      serverVersion: facts.version,
      // A custom dump is typically well under the on-disk size; half is a safe planning figure.
      estimatedBytes: Math.ceil(facts.databaseBytes / 2),
    };
  }

  async stage(ctx: StoreContext): Promise<StagedDump> {
    const started = Date.now();
    if (this.tools === undefined) await this.preflight(ctx);
    const tools = this.tools as PgToolRunner;
    const facts = await serverFacts(this.target);
    const env = toolEnv(this.target);
    const customPath = join(ctx.tempDir, 'database.backup');
    const sqlPath = join(ctx.tempDir, 'database.sql');

    // A local pg_dump writes the file itself (seekable, so its table of contents records data
    // offsets); one in a container streams it through stdout. The plain SQL is derived from the
    // same bytes while they are written (both hold one snapshot, production is read once, and the
    // derivation overlaps the dump): pg_restore reads the growing file in order, as from a pipe.
    ctx.progress.start(`pg_dump ${this.describe()}`, expectedDumpBytes(facts.databaseBytes, ctx.previous, this.dumpCompression > 0), { estimate: true });
    const following = followDump(customPath, ctx.progress);
    // --verbose names each table as its data starts: the progress line shows it.
    const dumpArgs = ['--format=custom', `--compress=${this.dumpCompression}`, '--no-password', '--verbose', tools.dbnameArg(this.config.url)];
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    let dumpFinished = false;
    const counter = new CopyRowCounter();
    try {
      const dumpOptions = { env, signal: ctx.signal, onStderrLine: following.onStderrLine };
      const dumping = (tools.local
        ? tools.run('pg_dump', [...dumpArgs, `--file=${customPath}`], dumpOptions)
        : tools.run('pg_dump', dumpArgs, { ...dumpOptions, stdout: createWriteStream(customPath, { mode: 0o600 }) }))
        .finally(() => {
          dumpFinished = true;
          following.stop();
        });
      const writing = pipeline(counter, createWriteStream(sqlPath, { mode: 0o600 }));
      writing.catch(() => undefined);
      const deriving = tools.run('pg_restore', ['--no-owner', '--no-privileges', '--file=-'], {
        signal: stop.signal,
        stdout: counter,
        stdin: Readable.from(followGrowingFile(customPath, () => dumpFinished, stop.signal)),
      });
      deriving.catch(() => undefined);
      const dumped = await dumping;
      if (dumped.exitCode !== 0) {
        stop.abort();
        throw this.toolError('pg_dump', withoutVerboseLines(dumped.stderr), ctx);
      }
      ctx.progress.start('deriving database.sql and counting rows');
      const derived = await deriving;
      await writing;
      if (derived.exitCode !== 0) throw this.toolError('pg_restore', derived.stderr, ctx);
      // A local pg_dump rewrote its table of contents (with data offsets) after the derivation read
      // it; that final version must read too. Through stdout nothing was rewritten.
      if (tools.local) {
        const listed = await tools.run('pg_restore', ['--list', customPath], { signal: ctx.signal });
        if (listed.exitCode !== 0) throw this.toolError('pg_restore --list', listed.stderr, ctx);
      }
    } finally {
      following.stop();
      ctx.signal.removeEventListener('abort', onAbort);
    }
    const customSize = (await stat(customPath)).size;
    const sqlSize = (await stat(sqlPath)).size;
    ctx.progress.done(`pg_dump wrote ${formatBytes(customSize)}; database.sql ${formatBytes(sqlSize)}, ${plural(Object.keys(counter.counts).length, 'table')}`);

    const warnings: string[] = [];
    const rows = Object.values(counter.counts).reduce((a, b) => a + b, 0);
    if (rows === 0) warnings.push(`${this.describe()} has no rows in any table; check that DATABASE_URL names the right database`);
    return {
      contentProven: [CUSTOM_DUMP_ENTRY],
      write: async (sink) => {
        const now = new Date();
        await sink.addFile(CUSTOM_DUMP_ENTRY, customPath, customSize, { mode: 0o600, mtime: now, compressed: this.dumpCompression > 0, seekPoint: true });
        await rm(customPath, { force: true });
        await sink.addFile(PLAIN_SQL_ENTRY, sqlPath, sqlSize, { mode: 0o600, mtime: now, compressed: false });
        await rm(sqlPath, { force: true });
        return {
          kind: this.kind,
          source: this.describe(),
          fingerprint: facts.fingerprint,
          serverVersion: facts.version,
          toolVersion: tools.version,
          counts: counter.counts,
          bytes: customSize + sqlSize,
          durationSeconds: (Date.now() - started) / 1000,
          warnings,
          // The next backup's progress estimate scales this dump by how much the database grew.
          facts: { databaseBytes: String(facts.databaseBytes), dumpBytes: String(customSize) },
        };
      },
    };
  }

  targetHosts(): string[] {
    return hostsOfUrl(this.config.url);
  }

  async inspectTarget(manifest: StoreManifest, options: RestoreOptions, _ctx: StoreContext): Promise<RestoreTarget> {
    const target = this.restoreTarget(options);
    const choice = await chooseStrategy(target, options.strategy ?? 'auto', options.tables === undefined ? undefined : selectTables(manifest.counts, options.tables));
    const notes = strategyNotes(choice, databaseOf(target.url), options.disconnect === true, options.keepPristine === true);
    if (!choice.privileges.targetExists) return { describe: describeUrl(target.url), fingerprint: undefined, currentCounts: undefined, notes };
    if (choice.strategy === 'tables') await refuseReferencedTables(target, selectTables(manifest.counts, options.tables), options.cascade === true, notes);
    // A swap killed between closing the target and the renames leaves it closed, its data untouched:
    // opened again first, or neither the plan nor the developer's app could connect to it.
    const reopened = await onMaintenance(target, (client) => reopenIfClosed(client, databaseOf(target.url)));
    if (reopened !== undefined) notes.unshift(reopened);
    const facts = await serverFacts(target);
    const currentCounts = await countRows(target, selectTables(manifest.counts, options.tables), true);
    notes.push(...(await targetOnlyNotes(target, choice, Object.keys(manifest.counts))));
    return { describe: describeUrl(target.url), fingerprint: facts.fingerprint, currentCounts, notes };
  }

  async prepareRestore(manifest: StoreManifest, options: RestoreOptions, ctx: StoreContext): Promise<RestoreStaging> {
    const dumpMajor = majorOf(manifest.toolVersion ?? '0');
    const tools = await choosePgTools(dumpMajor, `the archive was written by pg_dump ${manifest.toolVersion ?? '?'} so restoring it`, this.toolChoice, ctx.signal);
    const target = this.restoreTarget(options);
    const tables = selectTables(manifest.counts, options.tables);
    const facts = await serverFacts({ ...target, url: withDatabase(target.url, 'postgres') });
    return preparePgRefresh({
      tools,
      target,
      expected: Object.fromEntries(tables.map((t) => [t, manifest.counts[t] ?? 0])),
      tables: options.tables === undefined ? undefined : tables,
      // Tables without rules still go through the masked path's pg_restore | psql stream.
      mask: options.mask !== undefined && options.mask.rules.postgres.size > 0 ? options.mask : undefined,
      jobs: options.jobs ?? defaultJobs(),
      disconnect: options.disconnect === true,
      keepPristine: options.keepPristine === true,
      cascade: options.cascade === true,
      strategy: options.strategy ?? 'auto',
      serverMajor: facts.major,
      ctx,
    });
  }

  async keptCopies(options: RestoreOptions): Promise<KeptCopy[]> {
    const target = this.restoreTarget(options);
    const database = databaseOf(target.url);
    const names = { previous: keptName(database, 'prev'), pristine: keptName(database, 'pristine') } as const;
    const sizes = await onMaintenance(target, (client) => databaseNames(client, Object.values(names)));
    return (['previous', 'pristine'] as const).filter((role) => sizes.has(names[role])).map((role) => ({
      role, describe: describeUrl(withDatabase(target.url, names[role])), bytes: sizes.get(names[role]) as number,
    }));
  }

  async undo(options: RestoreOptions, _ctx: StoreContext): Promise<string> {
    const target = this.restoreTarget(options);
    const database = databaseOf(target.url);
    const prev = keptName(database, 'prev');
    const swap = keptName(database, 'old');
    return onMaintenance(target, async (client) => {
      const present = await databaseNames(client, [database, prev]);
      if (!present.has(prev)) {
        throw new FerryError('NOTHING_TO_UNDO', `no previous copy of ${database} is kept (${prev} does not exist)`, { hint: 'Undo brings back what the last restore replaced; nothing was changed.' });
      }
      await dropKeptDatabase(client, swap);
      const renames = present.has(database)
        ? [{ from: database, to: swap }, { from: prev, to: database }, { from: swap, to: prev }]
        : [{ from: prev, to: database }];
      await swapDatabases(client, database, renames, options.disconnect === true);
      return `${database}: the previous copy is back; what it replaced is kept as ${prev} (undo again to redo)`;
    });
  }

  async reset(options: RestoreOptions, _ctx: StoreContext): Promise<string> {
    const target = this.restoreTarget(options);
    const database = databaseOf(target.url);
    const names = { pristine: keptName(database, 'pristine'), new: keptName(database, 'new'), prev: keptName(database, 'prev'), old: keptName(database, 'old') };
    return onMaintenance(target, async (client) => {
      const present = await databaseNames(client, [database, names.pristine, names.prev]);
      if (!present.has(names.pristine)) {
        throw new FerryError('NOTHING_TO_RESET', `no pristine copy of ${database} is kept (${names.pristine} does not exist)`, { hint: 'Set restore.keep_pristine: true and restore once; then ferry reset brings that state back. Nothing was changed.' });
      }
      const major = Math.floor(Number((await client.query<{ v: string }>("SELECT current_setting('server_version_num') AS v")).rows[0]?.v ?? 0) / 10000);
      await dropKeptDatabase(client, names.new);
      await copyDatabase(client, names.pristine, names.new, major);
      const renames = [];
      if (present.has(database)) {
        if (present.has(names.prev)) renames.push({ from: names.prev, to: names.old });
        renames.push({ from: database, to: names.prev });
      }
      renames.push({ from: names.new, to: database });
      try {
        await swapDatabases(client, database, renames, options.disconnect === true);
      } catch (error) {
        await dropKeptDatabase(client, names.new).catch(() => undefined);
        throw error;
      }
      await dropKeptDatabase(client, names.old);
      return `${database}: back to the pristine copy of the last restore; what it replaced is kept as ${names.prev}`;
    });
  }

  async dropKept(roles: Array<KeptCopy['role']>, options: RestoreOptions): Promise<string[]> {
    const target = this.restoreTarget(options);
    const database = databaseOf(target.url);
    return onMaintenance(target, async (client) => {
      const dropped: string[] = [];
      for (const role of roles) {
        const name = keptName(database, role === 'previous' ? 'prev' : 'pristine');
        if (await dropKeptDatabase(client, name)) dropped.push(`database ${name}`);
      }
      return dropped;
    });
  }

  /**
   * Tables below EXACT_COUNT_BELOW estimated rows (and every required table) are counted exactly, as
   * `db check` users compare them with the application's own numbers; larger ones keep the planner's
   * estimate, marked as such, so a check never scans a big table.
   */
  async checkDatabase(attemptTimeoutSeconds: number): Promise<DatabaseCheck> {
    const target = { url: this.config.url, connectTimeoutSeconds: Math.max(1, Math.min(this.config.connect_timeout_seconds, attemptTimeoutSeconds)), exec: this.config.exec };
    const facts = await serverFacts(target);
    const tables = await withClient(target, async (client) => (await client.query<{ name: string; estimate: string }>(
      `SELECT format('%I.%I', s.schemaname, s.relname) AS name, greatest(c.reltuples, s.n_live_tup, 0)::bigint::text AS estimate
       FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid ORDER BY 1`,
    )).rows);
    const required = this.config.required_tables.map((name) => tables.find((t) => t.name === name || t.name.replace(/"/g, '') === name || t.name.endsWith(`.${name}`))?.name ?? name);
    const missing = required.filter((name) => !tables.some((t) => t.name === name));
    const counted = tables.filter((t) => required.includes(t.name) || Number(t.estimate) < EXACT_COUNT_BELOW).map((t) => t.name);
    const exact = await countRows(target, counted);
    return {
      target: this.describe(),
      serverVersion: `PostgreSQL ${facts.version}`,
      objects: tables.map((t) => ({ name: t.name, count: exact[t.name] ?? Number(t.estimate), estimated: exact[t.name] === undefined, required: required.includes(t.name) })),
      missing,
    };
  }

  private get toolChoice(): ToolChoice {
    return { binDir: this.config.bin_dir, exec: this.config.exec };
  }

  private restoreTarget(options: RestoreOptions): PgTarget {
    const url = options.toDatabase === undefined ? this.config.url : withDatabase(this.config.url, options.toDatabase);
    return { url, connectTimeoutSeconds: this.config.connect_timeout_seconds, exec: this.config.exec };
  }

  private toolError(tool: string, stderr: string, ctx: StoreContext): FerryError {
    const line = ctx.redactor.redact(lastLine(stderr));
    return toolFailure(this.config.url, tool, line, new FerryError('PG_DUMP_FAILED', `${tool} failed for ${this.describe()}: ${line}`, {
      hint: 'Fix the cause above and run the backup again; no archive was written and nothing was pruned.',
    }));
  }
}

/** db check counts a table exactly when the planner estimates fewer rows than this. */
export const EXACT_COUNT_BELOW = 100_000;

/** The manifest's tables that --tables names (as `recipes` or `public.recipes`); all without it. */
export function selectTables(counts: Record<string, number>, wanted: string[] | undefined): string[] {
  const all = Object.keys(counts);
  if (wanted === undefined) return all;
  return wanted.map((name) => {
    const found = all.find((table) => table === name || table.replace(/"/g, '') === name || bareName(table) === name);
    if (found === undefined) {
      throw new FerryError('USAGE', `--tables: ${name} is not in the archive`, { hint: `The archive has ${all.join(', ')}.` });
    }
    return found;
  });
}

/** The table name without schema or quotes, as pg_restore --table wants it. */
function bareName(table: string): string {
  const match = /(?:^|\.)("(?:[^"]|"")*"|[^."]+)$/.exec(table);
  const last = match?.[1] ?? table;
  return last.startsWith('"') ? last.slice(1, -1).replace(/""/g, '"') : last;
}

/**
 * Each table's rows. `only` counts a table's own rows, as pg_dump writes them and the manifest
 * records them, without those of tables that inherit from it.
 */
export async function countRows(target: PgTarget, tables: string[], only = false): Promise<Record<string, number>> {
  return withClient(target, async (client) => {
    const counts: Record<string, number> = {};
    for (const table of tables) {
      try {
        const result = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${only ? 'ONLY ' : ''}${table}`);
        counts[table] = Number(result.rows[0]?.n ?? 0);
      } catch {
        // A table the target does not have yet counts as empty for the plan; after a restore it shows as a mismatch.
        counts[table] = -1;
      }
    }
    return counts;
  });
}

/** pg_restore --jobs for a restore into a new database: the cores, at most 4 (more rarely helps a dev database). */
function defaultJobs(): number {
  return Math.max(1, Math.min(4, availableParallelism()));
}
