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
 * dump without keys, one with comments on constraints (a comment on a key needs the key), or one
 * with event triggers (pg_restore creates them last; before the keys, they would fire on Ferry's
 * own ALTER TABLE statements).
 */
export function splitKeyLists(listing: string): KeyLists | undefined {
  const withoutKeys: string[] = [];
  const keysOnly: string[] = [];
  let count = 0;
  for (const line of listing.split('\n')) {
    const entry = parseTocLine(line);
    if (entry?.desc === 'COMMENT' && entry.tag.startsWith('CONSTRAINT ')) return undefined;
    if (entry?.desc === 'EVENT TRIGGER') return undefined;
    const isKey = entry?.desc === 'FK CONSTRAINT';
    if (isKey) count += 1;
    withoutKeys.push(isKey ? `;${line}` : line);
    // Every entry line but the keys' is commented out, kinds this parser does not name included.
    keysOnly.push(isKey || line === '' || line.startsWith(';') ? line : `;${line}`);
  }
  return count === 0 ? undefined : { withoutKeys: withoutKeys.join('\n'), keysOnly: keysOnly.join('\n'), count };
}

/**
 * The statements of `pg_restore --use-list=<keys only> --file=-`, one per key, in the dump's
 * order: under each entry's "-- Name: …; Type: FK CONSTRAINT" header (pg_dump writes the names
 * there with their line breaks replaced), the SQL up to the first semicolon outside quotes (a
 * quoted name may hold a line break, "--" or a backslash).
 */
export function keyStatements(sql: string): string[] {
  const statements: string[] = [];
  for (const block of sql.split(/^-- Name: .*; Type: FK CONSTRAINT; .*$/m).slice(1)) {
    const statement = firstStatement(block.replace(/^\n--\n/, '').trimStart());
    if (statement !== undefined) statements.push(statement);
  }
  return statements;
}

function firstStatement(text: string): string | undefined {
  let quote: string | undefined;
  for (let i = 0; i < text.length; i += 1) {
    const ch = text[i];
    if (quote !== undefined) {
      if (ch === quote && text[i + 1] === quote) i += 1;
      else if (ch === quote) quote = undefined;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
    } else if (ch === ';') {
      return text.slice(0, i + 1);
    }
  }
  return undefined;
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
  oid: number;
  table: string;
  sql: string;
  /** What the check reads: the referencing table, and the referenced one, which it hashes (plans seen at size l). */
  bytes: number;
}

/** Settings pg_restore uses for its own sessions: a role's statement_timeout must not cut a check short. */
const SESSION = "SET statement_timeout = 0; SET lock_timeout = 0; SELECT pg_catalog.set_config('search_path', '', false)";

/** Adds the keys to the database `target` names (a new one, nobody else in it), checking them in up to `jobs` sessions. */
export async function addForeignKeys(target: PgTarget, statements: string[], jobs: number, signal: AbortSignal, sessionSql = ''): Promise<void> {
  const unchecked = statements.map((statement) => ({ statement, fast: addedUnchecked(statement) }));
  const session = <T>(work: (client: pg.Client) => Promise<T>) => keySession(target, signal, sessionSql, work);
  const checks = await session(async (client) => {
    for (const key of unchecked.filter((k) => k.fast === undefined)) await run(client, target, key.statement);
    const before = new Set((await unvalidated(client)).map((c) => c.oid));
    await run(client, target, `BEGIN; ${unchecked.flatMap((k) => (k.fast === undefined ? [] : [k.fast])).join('\n')} COMMIT;`);
    await checkedAgainstPartitions(client, target, before);
    return (await unvalidated(client)).filter((c) => !before.has(c.oid));
  });
  // The keys of one table share its lock: one session checks them, the costliest tables first.
  const byTable = new Map<string, Check[]>();
  for (const check of checks) byTable.set(check.table, [...(byTable.get(check.table) ?? []), check]);
  const cost = (keys: Check[]) => keys.reduce((sum, key) => sum + key.bytes, 0);
  const queue = [...byTable.values()].sort((a, b) => cost(b) - cost(a));
  const worker = () => session(async (client) => {
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      for (const check of next) await run(client, target, check.sql);
    }
  });
  await Promise.all(Array.from({ length: Math.min(Math.max(jobs, 1), queue.length) }, worker));
}

/**
 * A key NOT VALID that references a partitioned table also gets an unchecked key per partition,
 * which VALIDATE on the key leaves unchecked (servers up to 17): such keys (seen in the catalog,
 * not in the SQL) are added again as the dump wrote them, checked at once.
 */
async function checkedAgainstPartitions(client: pg.Client, target: PgTarget, before: Set<number>): Promise<void> {
  const keys = (await client.query<{ oid: number; table: string; name: string; definition: string }>(
    `SELECT c.oid, c.conrelid::regclass::text AS table, quote_ident(c.conname) AS name, pg_get_constraintdef(c.oid) AS definition
       FROM pg_constraint c JOIN pg_class r ON r.oid = c.confrelid
      WHERE c.contype = 'f' AND NOT c.convalidated AND c.conparentid = 0 AND r.relkind = 'p'`,
  )).rows.filter((key) => !before.has(key.oid));
  for (const key of keys) {
    await run(client, target, `BEGIN; ALTER TABLE ONLY ${key.table} DROP CONSTRAINT ${key.name};
      ALTER TABLE ONLY ${key.table} ADD CONSTRAINT ${key.name} ${key.definition.replace(/\s+NOT VALID$/, '')}; COMMIT;`);
  }
}

async function unvalidated(client: pg.Client): Promise<Check[]> {
  // A partition's own copy of a key (conparentid set) follows its parent key.
  const rows = await client.query<{ oid: number; table: string; sql: string; bytes: string }>(
    `SELECT c.oid, c.conrelid::regclass::text AS table,
            format('ALTER TABLE ONLY %s VALIDATE CONSTRAINT %I', c.conrelid::regclass, c.conname) AS sql,
            (pg_relation_size(c.conrelid) + pg_relation_size(c.confrelid))::text AS bytes
       FROM pg_constraint c WHERE c.contype = 'f' AND NOT c.convalidated AND c.conparentid = 0`,
  );
  return rows.rows.map((r) => ({ oid: r.oid, table: r.table, sql: r.sql, bytes: Number(r.bytes) }));
}

/** A session on `target` that a call-off ends at once (the discarded database is dropped with whatever runs in it). */
async function keySession<T>(target: PgTarget, signal: AbortSignal, sessionSql: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  return withClient(target, async (client) => {
    const end = () => void client.end().catch(() => undefined);
    signal.addEventListener('abort', end, { once: true });
    try {
      if (signal.aborted) throw new Error('the restore was called off');
      await client.query(sessionSql === '' ? SESSION : `${SESSION}; ${sessionSql}`);
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
