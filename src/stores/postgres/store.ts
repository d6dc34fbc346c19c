import { createWriteStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { drain, type ArchiveEntryHeader, type StoreManifest } from '../../archive/index.js';
import type { PostgresConfig } from '../../config/index.js';
import { FerryError } from '../../errors/index.js';
import { lastLine } from '../../process/index.js';
import { silentProgress, type DatabaseCheck, type PreflightReport, type RestoreOptions, type RestoreStaging, type RestoreTarget, type StagedDump, type Store, type StoreContext, type StoreRestoreResult } from '../store.js';
import { databaseExists, describeUrl, toolEnv, toolFailure, withClient, withDatabase, type PgTarget } from './connection.js';
import { CopyRowCounter } from './copy-counter.js';
import { applyPgRestore, applyStreamedPgRestore, checkMaskRules, dropCreatedDatabase, type StreamedPgRestoreRequest } from './restore.js';
import { serverFacts } from './server.js';
import { choosePgTools, majorOf, type ToolChoice } from './tools.js';
import type { PgToolRunner } from './runner.js';
import { formatBytes } from '../../util/format.js';
import { hostsOfUrl } from '../../util/url.js';
import { followGrowingFile } from '../../util/follow-file.js';

export const CUSTOM_DUMP_ENTRY = 'postgresql/database.backup';
export const PLAIN_SQL_ENTRY = 'postgresql/database.sql';

export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  readonly archivePrefix = 'postgresql/';
  private tools: PgToolRunner | undefined;
  private serverVersion: string | undefined;

  constructor(private readonly config: PostgresConfig) {}

  private get target(): PgTarget {
    return { url: this.config.url, connectTimeoutSeconds: this.config.connect_timeout_seconds };
  }

  describe(): string {
    return describeUrl(this.config.url);
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
    ctx.progress.start(`pg_dump ${this.describe()}, deriving database.sql and counting rows`);
    const dumpArgs = ['--format=custom', `--compress=${this.config.dump_compression}`, '--no-password', tools.dbnameArg(this.config.url)];
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    let dumpFinished = false;
    const counter = new CopyRowCounter();
    try {
      const dumping = (tools.local
        ? tools.run('pg_dump', [...dumpArgs, `--file=${customPath}`], { env, signal: ctx.signal })
        : tools.run('pg_dump', dumpArgs, { env, signal: ctx.signal, stdout: createWriteStream(customPath, { mode: 0o600 }) }))
        .finally(() => {
          dumpFinished = true;
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
        throw this.toolError('pg_dump', dumped.stderr, ctx);
      }
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
      ctx.signal.removeEventListener('abort', onAbort);
    }
    const customSize = (await stat(customPath)).size;
    const sqlSize = (await stat(sqlPath)).size;
    ctx.progress.done(`pg_dump wrote ${formatBytes(customSize)}; database.sql ${formatBytes(sqlSize)}, ${Object.keys(counter.counts).length} tables`);

    const warnings: string[] = [];
    const rows = Object.values(counter.counts).reduce((a, b) => a + b, 0);
    if (rows === 0) warnings.push(`${this.describe()} has no rows in any table; check that DATABASE_URL names the right database`);
    return {
      contentProven: [CUSTOM_DUMP_ENTRY],
      write: async (sink) => {
        const now = new Date();
        await sink.addFile(CUSTOM_DUMP_ENTRY, customPath, customSize, { mode: 0o600, mtime: now, compressed: this.config.dump_compression > 0 });
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
        };
      },
    };
  }

  targetHosts(): string[] {
    return hostsOfUrl(this.config.url);
  }

  async inspectTarget(manifest: StoreManifest, options: RestoreOptions, _ctx: StoreContext): Promise<RestoreTarget> {
    const target = this.restoreTarget(options);
    const exists = await databaseExists(target);
    if (!exists) return { describe: describeUrl(target.url), fingerprint: undefined, currentCounts: undefined };
    const facts = await serverFacts(target);
    const currentCounts = await countRows(target, selectTables(manifest.counts, options.tables));
    return { describe: describeUrl(target.url), fingerprint: facts.fingerprint, currentCounts };
  }

  async prepareRestore(manifest: StoreManifest, options: RestoreOptions, ctx: StoreContext): Promise<RestoreStaging> {
    const dumpMajor = majorOf(manifest.toolVersion ?? '0');
    const tools = await choosePgTools(dumpMajor, `the archive was written by pg_dump ${manifest.toolVersion ?? '?'} so restoring it`, this.toolChoice, ctx.signal);
    const customPath = join(ctx.tempDir, 'database.backup');
    const plainPath = join(ctx.tempDir, 'database.sql');
    const target = this.restoreTarget(options);
    let staged = false;
    let plainStaged = false;
    // Tables without rules still go through the masked path's single pg_restore | psql stream.
    const mask = options.mask !== undefined && options.mask.rules.postgres.size > 0 ? options.mask : undefined;
    const tables = selectTables(manifest.counts, options.tables);
    const expected = Object.fromEntries(tables.map((t) => [t, manifest.counts[t] ?? 0]));
    const selection = options.tables === undefined ? undefined : tables.map(bareName);
    // The restore starts while the archive is still being read, and psql's transaction commits only
    // in apply(), once every entry matched its checksum; discard() before that rolls it back.
    // Unmasked, pg_restore follows the dump as it is staged. Masked, it starts once the whole dump is
    // staged and the rules are checked against it: unmasked values of ruled columns never reach the
    // target, not even in a transaction that is rolled back. --jobs (unmasked) waits for the check.
    const early = mask !== undefined || (options.jobs ?? 1) <= 1;
    let started: { result: Promise<StoreRestoreResult>; commit: () => void; cancel: (reason: Error) => void; created: boolean } | undefined;
    let rulesChecked: Promise<void> | undefined;
    const startEarly = (source: StreamedPgRestoreRequest['source'], created: boolean) => {
      let commit!: () => void;
      let cancel!: (reason: Error) => void;
      const decided = new Promise<void>((resolveDecided, rejectDecided) => {
        commit = resolveDecided;
        cancel = rejectDecided;
      });
      decided.catch(() => undefined);
      // The archive's reading owns the progress line meanwhile.
      const result = applyStreamedPgRestore({
        tools, target, expected, tables: selection, ctx: { ...ctx, progress: silentProgress }, commit: decided, source,
        rules: mask?.rules.postgres ?? new Map<string, never>(), masker: mask?.masker,
      });
      result.catch(() => undefined);
      started = { result, commit, cancel, created };
    };
    return {
      accept: async (_header: ArchiveEntryHeader, relativePath: string, data: Readable) => {
        if (relativePath === 'database.backup') {
          const created = early && !(await databaseExists(target));
          let written = false;
          const stop = new AbortController();
          const writing = pipeline(data, createWriteStream(customPath, { mode: 0o600 })).finally(() => {
            written = true;
          });
          if (early && mask === undefined) {
            startEarly({ customDumpStream: Readable.from(followGrowingFile(customPath, () => written, stop.signal)) }, created);
            // A restore that ends early (it failed) stops following the file.
            started?.result.then(() => stop.abort(), () => stop.abort());
          }
          await writing;
          staged = true;
          if (early && mask !== undefined) {
            rulesChecked = checkMaskRules(tools, customPath, mask.rules.postgres, ctx);
            rulesChecked.catch(() => undefined);
            if (await rulesChecked.then(() => true, () => false)) startEarly({ customDump: customPath }, created);
          }
        } else if (relativePath === 'database.sql' && !staged) {
          // Only a masked archive has plain SQL and no custom dump (which comes first otherwise).
          await pipeline(data, createWriteStream(plainPath, { mode: 0o600 }));
          plainStaged = true;
        } else {
          await drain(data);
        }
      },
      validate: async () => {
        if (mask !== undefined && staged) await (rulesChecked ?? checkMaskRules(tools, customPath, mask.rules.postgres, ctx));
        if (!staged && plainStaged && options.tables !== undefined) {
          throw new FerryError('USAGE', '--tables needs the custom-format dump, and this archive (a masked one) holds plain SQL only', { hint: 'Restore it whole.' });
        }
      },
      apply: async () => {
        if (started !== undefined) {
          if (mask !== undefined && (options.jobs ?? 1) > 1) ctx.log.warn('--jobs does not apply to a masked restore: it streams through psql in one transaction');
          started.commit();
          return started.result;
        }
        if (!staged && !plainStaged) {
          throw new FerryError('ARCHIVE_ENTRY_MISSING', `the archive has no ${CUSTOM_DUMP_ENTRY}`, { hint: 'Restore PostgreSQL by hand from postgresql/database.sql with psql, or use another backup.' });
        }
        if (!staged) {
          return applyStreamedPgRestore({ tools, target, expected, tables: selection, ctx, rules: mask?.rules.postgres ?? new Map<string, never>(), masker: mask?.masker, source: { plainSql: plainPath } });
        }
        // A staged dump that did not start early: unmasked with --jobs (a masked one always starts once its rules pass).
        return applyPgRestore({ tools, target, dumpPath: customPath, expected, tables: selection, jobs: options.jobs, ctx });
      },
      discard: async () => {
        if (started === undefined) return;
        started.cancel(new Error('the restore was called off before it was committed'));
        const outcome = await started.result.then(() => 'committed', () => 'rolled back');
        if (started.created && outcome === 'rolled back') {
          await dropCreatedDatabase(target).catch((error: unknown) => ctx.log.warn(`could not remove the database created for the restore: ${(error as Error).message}`));
        }
      },
    };
  }

  async checkDatabase(attemptTimeoutSeconds: number): Promise<DatabaseCheck> {
    const target = { url: this.config.url, connectTimeoutSeconds: Math.max(1, Math.min(this.config.connect_timeout_seconds, attemptTimeoutSeconds)) };
    const facts = await serverFacts(target);
    const tables = await withClient(target, async (client) => (await client.query<{ name: string; estimate: string }>(
      `SELECT format('%I.%I', schemaname, relname) AS name, n_live_tup::text AS estimate FROM pg_stat_user_tables ORDER BY 1`,
    )).rows);
    const required = this.config.required_tables.map((name) => tables.find((t) => t.name === name || t.name.replace(/"/g, '') === name || t.name.endsWith(`.${name}`))?.name ?? name);
    const missing = required.filter((name) => !tables.some((t) => t.name === name));
    const exact = await countRows(target, required.filter((name) => !missing.includes(name)));
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
    return { url, connectTimeoutSeconds: this.config.connect_timeout_seconds };
  }

  private toolError(tool: string, stderr: string, ctx: StoreContext): FerryError {
    const line = ctx.redactor.redact(lastLine(stderr));
    return toolFailure(this.config.url, tool, line, new FerryError('PG_DUMP_FAILED', `${tool} failed for ${this.describe()}: ${line}`, {
      hint: 'Fix the cause above and run the backup again; no archive was written and nothing was pruned.',
    }));
  }
}

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

export async function countRows(target: PgTarget, tables: string[]): Promise<Record<string, number>> {
  return withClient(target, async (client) => {
    const counts: Record<string, number> = {};
    for (const table of tables) {
      try {
        const result = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`);
        counts[table] = Number(result.rows[0]?.n ?? 0);
      } catch {
        // A table the target does not have yet counts as empty for the plan; after a restore it shows as a mismatch.
        counts[table] = -1;
      }
    }
    return counts;
  });
}
