import type pg from 'pg';
import { FerryError } from '../../errors/index.js';
import { describeUrl, withClient, type PgTarget } from './connection.js';
import { parseTocLine } from './toc.js';

/**
 * Foreign keys added after a parallel load, checked side by side.
 *
 * pg_restore adds a key with ALTER TABLE … ADD CONSTRAINT, which reads every row under a lock that
 * also blocks the referenced table, so pg_restore --jobs checks the keys of one referenced table
 * one after another (the keys of Le Grimoire's recipes: four full scans in a row at the end of a
 * restore). Added NOT VALID, a key takes no time; ALTER TABLE … VALIDATE CONSTRAINT then reads
 * the rows locking only the referencing table against writes (the referenced one with ROW SHARE),
 * so the checks of different tables run at once. The result is the same key, validated.
 */
export interface KeyLists {
  /** A pg_restore --use-list with every entry but the foreign keys. */
  withoutKeys: string;
  /** A pg_restore --use-list with the foreign keys only. */
  keysOnly: string;
  count: number;
}

/**
 * The dump's --list split in two, or undefined when pg_restore had better add the keys itself: a
 * dump without keys, or one with comments on constraints (a comment on a key needs the key).
 */
export function splitKeyLists(listing: string): KeyLists | undefined {
  const withoutKeys: string[] = [];
  const keysOnly: string[] = [];
  let count = 0;
  for (const line of listing.split('\n')) {
    const entry = parseTocLine(line);
    if (entry?.desc === 'COMMENT' && entry.tag.startsWith('CONSTRAINT ')) return undefined;
    const isKey = entry?.desc === 'FK CONSTRAINT';
    if (isKey) count += 1;
    withoutKeys.push(isKey ? `;${line}` : line);
    keysOnly.push(entry === undefined || isKey ? line : `;${line}`);
  }
  return count === 0 ? undefined : { withoutKeys: withoutKeys.join('\n'), keysOnly: keysOnly.join('\n'), count };
}

/**
 * The statements of `pg_restore --use-list=<keys only> --file=-`, one per key, in the dump's
 * order: what is under each entry's "-- Name: …; Type: FK CONSTRAINT" header, without comments
 * and psql meta-commands (\restrict).
 */
export function keyStatements(sql: string): string[] {
  const statements: string[] = [];
  const blocks = sql.split(/^-- Name: .*; Type: FK CONSTRAINT; .*$/m).slice(1);
  for (const block of blocks) {
    const text = block.split('\n').filter((line) => !line.startsWith('--') && !line.startsWith('\\')).join('\n').trim();
    statements.push(text);
  }
  return statements;
}

/**
 * The statement adding the key without reading the rows, or undefined when it must stay as it is:
 * pg_dump writes ALTER TABLE ONLY for a key on an ordinary table and leaves ONLY out for a
 * partitioned one, where servers before 18 refuse NOT VALID; a key the dump has NOT VALID (or NOT
 * ENFORCED) stays so.
 */
export function addedUnchecked(statement: string): string | undefined {
  if (!/^ALTER TABLE ONLY \S[\s\S]*\sADD CONSTRAINT \S[\s\S]* FOREIGN KEY [\s\S]*;$/.test(statement)) return undefined;
  if (/\sNOT (VALID|ENFORCED);$/.test(statement)) return undefined;
  return `${statement.slice(0, -1)} NOT VALID;`;
}

interface Check {
  table: string;
  sql: string;
  bytes: number;
}

/** Settings pg_restore uses for its own sessions: a role's statement_timeout must not cut a check short. */
const SESSION = "SET statement_timeout = 0; SET lock_timeout = 0; SELECT pg_catalog.set_config('search_path', '', false)";

/** Adds the keys to the database `target` names (a new one, nobody else in it), checking them in up to `jobs` sessions. */
export async function addForeignKeys(target: PgTarget, statements: string[], jobs: number, signal: AbortSignal): Promise<void> {
  const unchecked = statements.map((statement) => ({ statement, fast: addedUnchecked(statement) }));
  const checks = await session(target, signal, async (client) => {
    for (const key of unchecked.filter((k) => k.fast === undefined)) await run(client, target, key.statement);
    const before = new Set((await unvalidated(client)).map((c) => c.sql));
    await run(client, target, `BEGIN; ${unchecked.flatMap((k) => (k.fast === undefined ? [] : [k.fast])).join('\n')} COMMIT;`);
    return (await unvalidated(client)).filter((c) => !before.has(c.sql));
  });
  // The keys of one table share its lock: one session checks them, the largest tables first.
  const byTable = new Map<string, Check[]>();
  for (const check of checks) byTable.set(check.table, [...(byTable.get(check.table) ?? []), check]);
  const queue = [...byTable.values()].sort((a, b) => (b[0]?.bytes ?? 0) - (a[0]?.bytes ?? 0));
  const worker = () => session(target, signal, async (client) => {
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      for (const check of next) await run(client, target, check.sql);
    }
  });
  await Promise.all(Array.from({ length: Math.min(Math.max(jobs, 1), queue.length) }, worker));
}

async function unvalidated(client: pg.Client): Promise<Check[]> {
  const rows = await client.query<{ table: string; sql: string; bytes: string }>(
    `SELECT c.conrelid::regclass::text AS table,
            format('ALTER TABLE ONLY %s VALIDATE CONSTRAINT %I', c.conrelid::regclass, c.conname) AS sql,
            pg_relation_size(c.conrelid)::text AS bytes
       FROM pg_constraint c WHERE c.contype = 'f' AND NOT c.convalidated`,
  );
  return rows.rows.map((r) => ({ table: r.table, sql: r.sql, bytes: Number(r.bytes) }));
}

/** A session on `target` that a call-off ends at once (the discarded database is dropped with whatever runs in it). */
async function session<T>(target: PgTarget, signal: AbortSignal, work: (client: pg.Client) => Promise<T>): Promise<T> {
  return withClient(target, async (client) => {
    const end = () => void client.end().catch(() => undefined);
    signal.addEventListener('abort', end, { once: true });
    try {
      if (signal.aborted) throw new Error('the restore was called off');
      await client.query(SESSION);
      return await work(client);
    } finally {
      signal.removeEventListener('abort', end);
    }
  });
}

async function run(client: pg.Client, target: PgTarget, sql: string): Promise<void> {
  try {
    await client.query(sql);
  } catch (cause) {
    const reason = (cause as Error).message;
    throw new FerryError('PG_RESTORE_FAILED', `restore into ${describeUrl(target.url)} failed adding a foreign key: ${reason}`, {
      hint: 'Nothing was committed: the database being built beside the target was dropped; the target is as it was. Fix the cause and run the restore again.',
    });
  }
}
