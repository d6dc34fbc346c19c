import { createHash } from 'node:crypto';
import type pg from 'pg';
import { FerryError } from '../../errors/index.js';
import { connectionError, withClient, withDatabase, type PgTarget } from './connection.js';

/**
 * The databases a restore keeps beside its target, found by name: the copy being built, the one it
 * replaced (for undo), the one it restored (for reset), and a short-lived name used while swapping.
 */
export type KeptRole = 'new' | 'prev' | 'pristine' | 'old';

const MAX_NAME_BYTES = 63;

/** `<db>__ferry_<role>`, shortened with a hash when PostgreSQL's 63-byte limit would cut it. */
export function keptName(database: string, role: KeptRole | 'pristine_new' | 'pristine_old'): string {
  const suffix = `__ferry_${role}`;
  if (Buffer.byteLength(database + suffix) <= MAX_NAME_BYTES) return database + suffix;
  const hash = createHash('sha256').update(database).digest('hex').slice(0, 8);
  let head = database;
  while (Buffer.byteLength(`${head}_${hash}${suffix}`) > MAX_NAME_BYTES) head = head.slice(0, -1);
  return `${head}_${hash}${suffix}`;
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * Runs work on the server's maintenance database, never on the target (which gets renamed). A
 * refused login or an unreachable server is said of the target, the database the user named; a
 * missing maintenance database is said of it.
 */
export async function onMaintenance<T>(target: PgTarget, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const maintenance = withDatabase(target.url, 'postgres');
  try {
    return await withClient({ ...target, url: maintenance }, work);
  } catch (error) {
    if (error instanceof FerryError && (error.code === 'PG_AUTH' || error.code === 'PG_CONNECT') && error.cause !== undefined) throw connectionError(target.url, error.cause);
    throw error;
  }
}

export interface Session {
  pid: number;
  application: string;
  address: string;
  since: string;
  user: string;
  /** Only a superuser may end a superuser's session. */
  superuser: boolean;
}

/**
 * pg_stat_activity's client sessions. Autovacuum workers are left out (PostgreSQL ends them by itself
 * when a database is renamed); a role without pg_read_all_stats sees other roles' sessions with most
 * columns empty (backend_type too): they count all the same.
 */
export const CLIENT_SESSION = "(backend_type = 'client backend' OR (backend_type IS NULL AND usesysid IS NOT NULL))";

/** Sessions connected to a database, other than this one. */
export async function sessionsOn(client: pg.Client, database: string): Promise<Session[]> {
  const rows = await client.query<{ pid: number; application_name: string | null; client_addr: string | null; backend_start: Date | null; usename: string | null; superuser: boolean | null }>(
    `SELECT a.pid, a.application_name, host(a.client_addr) AS client_addr, a.backend_start, a.usename, r.rolsuper AS superuser
       FROM pg_stat_activity a LEFT JOIN pg_roles r ON r.oid = a.usesysid
      WHERE a.datname = $1 AND a.pid <> pg_backend_pid() AND ${CLIENT_SESSION}
      ORDER BY a.backend_start`,
    [database],
  );
  return rows.rows.map((r) => ({
    pid: r.pid,
    application: r.application_name === null || r.application_name === '' ? '(no application_name)' : r.application_name,
    address: r.client_addr ?? (r.backend_start === null ? '?' : 'local socket'),
    since: r.backend_start?.toISOString() ?? '?',
    user: r.usename ?? '?',
    superuser: r.superuser === true,
  }));
}

export function describeSessions(sessions: Session[]): string {
  return sessions.map((s) => `${s.application} (pid ${s.pid}, ${s.user} from ${s.address}, since ${s.since})`).join('; ');
}

export function inUseError(database: string, sessions: Session[]): FerryError {
  return new FerryError('RESTORE_TARGET_IN_USE', `database ${database} has ${sessions.length} connected session${sessions.length === 1 ? '' : 's'}: ${describeSessions(sessions)}`, {
    hint: 'Stop the app that uses it (e.g. docker compose stop web, or restore.before), or pass --force (restore.disconnect: true) to terminate these sessions. Nothing was changed.',
  });
}

export interface RolePrivileges {
  role: string;
  superuser: boolean;
  createdb: boolean;
  /** The role owns the target (or is a member of its owner); true when the target does not exist. */
  ownsTarget: boolean;
  /** May terminate other roles' sessions (pg_signal_backend). */
  signalBackend: boolean;
  targetExists: boolean;
  /** The target's owner, encoding and locale, for the database built beside it. */
  owner: string | undefined;
  encoding: string | undefined;
  collate: string | undefined;
  ctype: string | undefined;
  /** false when a killed swap left the target closed to connections. */
  allowsConnections: boolean;
}

export async function rolePrivileges(client: pg.Client, database: string): Promise<RolePrivileges> {
  const role = await client.query<{ role: string; superuser: boolean; createdb: boolean; signal: boolean }>(
    `SELECT current_user AS role, rolsuper AS superuser, rolcreatedb AS createdb,
            pg_has_role(current_user, 'pg_signal_backend', 'MEMBER') AS signal
       FROM pg_roles WHERE rolname = current_user`,
  );
  const r = role.rows[0];
  const db = await client.query<{ owner: string; encoding: string; collate: string; ctype: string; owns: boolean; allow: boolean }>(
    `SELECT pg_get_userbyid(datdba) AS owner, pg_encoding_to_char(encoding) AS encoding, datcollate AS collate, datctype AS ctype,
            pg_has_role(current_user, datdba, 'MEMBER') AS owns, datallowconn AS allow
       FROM pg_database WHERE datname = $1`,
    [database],
  );
  const d = db.rows[0];
  return {
    role: r?.role ?? '?',
    superuser: r?.superuser === true,
    createdb: r?.createdb === true || r?.superuser === true,
    ownsTarget: d === undefined || d.owns || r?.superuser === true,
    signalBackend: r?.signal === true || r?.superuser === true,
    targetExists: d !== undefined,
    owner: d?.owner,
    encoding: d?.encoding,
    collate: d?.collate,
    ctype: d?.ctype,
    allowsConnections: d?.allow ?? true,
  };
}

/** Why the swap strategy cannot be used by this role, or undefined when it can. */
export function swapRefusal(privileges: RolePrivileges): string | undefined {
  const missing: string[] = [];
  if (!privileges.createdb) missing.push('CREATEDB');
  if (!privileges.ownsTarget) missing.push(`ownership of the target (owned by ${privileges.owner ?? '?'})`);
  if (missing.length === 0) return undefined;
  return `role ${privileges.role} lacks ${missing.join(' and ')}, which building a database beside the target and renaming it needs`;
}

export async function databaseNames(client: pg.Client, names: string[]): Promise<Map<string, number>> {
  const rows = await client.query<{ datname: string; size: string }>(
    'SELECT datname, pg_database_size(oid)::text AS size FROM pg_database WHERE datname = ANY($1)',
    [names],
  );
  return new Map(rows.rows.map((r) => [r.datname, Number(r.size)]));
}

/** Drops a database Ferry named, ending any session on it first (only Ferry's names reach here). */
export async function dropKeptDatabase(client: pg.Client, name: string): Promise<boolean> {
  const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  if (exists.rowCount === 0) return false;
  await client.query(`ALTER DATABASE ${quoteIdent(name)} ALLOW_CONNECTIONS false`).catch(() => undefined);
  await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
  await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)}`);
  return true;
}

/** An empty database beside the target, with its owner, encoding and locale. */
export async function createBeside(client: pg.Client, name: string, like: RolePrivileges): Promise<void> {
  const options = ['TEMPLATE template0'];
  if (like.encoding !== undefined) options.push(`ENCODING ${quoteLiteral(like.encoding)}`);
  if (like.collate !== undefined) options.push(`LC_COLLATE ${quoteLiteral(like.collate)}`);
  if (like.ctype !== undefined) options.push(`LC_CTYPE ${quoteLiteral(like.ctype)}`);
  if (like.owner !== undefined && like.targetExists && like.owner !== like.role) options.push(`OWNER ${quoteIdent(like.owner)}`);
  await client.query(`CREATE DATABASE ${quoteIdent(name)} ${options.join(' ')}`);
}

/** A copy of `source` (which nobody may be connected to) under `name`, closed to connections. */
export async function copyDatabase(client: pg.Client, source: string, name: string, serverMajor: number): Promise<void> {
  // FILE_COPY copies the files instead of WAL-logging every block: seconds for a large database.
  const strategy = serverMajor >= 15 ? ' STRATEGY FILE_COPY' : '';
  await client.query(`CREATE DATABASE ${quoteIdent(name)} TEMPLATE ${quoteIdent(source)}${strategy}`);
  await client.query(`ALTER DATABASE ${quoteIdent(name)} ALLOW_CONNECTIONS false`);
}

function quoteLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

export interface SwapStep {
  from: string;
  to: string;
}

/**
 * Closes `database` to new connections, ends (or, without `disconnect`, refuses) the sessions on it,
 * then applies every rename in one transaction: all happen or none. The database that ends up under
 * the target's name is opened again; the others stay closed so no app connects to a kept copy.
 */
export async function swapDatabases(client: pg.Client, database: string, renames: SwapStep[], disconnect: boolean): Promise<void> {
  const targetExists = (await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database])).rowCount !== 0;
  if (targetExists) {
    const sessions = await sessionsOn(client, database);
    if (sessions.length > 0 && !disconnect) throw inUseError(database, sessions);
    await client.query(`ALTER DATABASE ${quoteIdent(database)} ALLOW_CONNECTIONS false`);
    try {
      await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [database]);
      await waitUntilNoSessions(client, database);
    } catch (error) {
      await client.query(`ALTER DATABASE ${quoteIdent(database)} ALLOW_CONNECTIONS true`).catch(() => undefined);
      throw error;
    }
  }
  try {
    await client.query('BEGIN');
    for (const step of renames) await client.query(`ALTER DATABASE ${quoteIdent(step.from)} RENAME TO ${quoteIdent(step.to)}`);
    // A rotation renames a name away again (target → old → prev): only the final names are set.
    const finalNames = renames.filter((step, index) => !renames.slice(index + 1).some((later) => later.from === step.to)).map((step) => step.to);
    for (const name of finalNames) {
      await client.query(`ALTER DATABASE ${quoteIdent(name)} ALLOW_CONNECTIONS ${name === database ? 'true' : 'false'}`);
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    if (targetExists) await client.query(`ALTER DATABASE ${quoteIdent(database)} ALLOW_CONNECTIONS true`).catch(() => undefined);
    throw new FerryError('PG_RESTORE_FAILED', `swapping databases failed: ${(error as Error).message}`, {
      hint: `The renames were rolled back: ${database} is as it was. Run the command again; ferry restore removes what this run left.`,
      cause: error,
    });
  }
}

/** pg_terminate_backend only signals: the sessions end a moment later. */
async function waitUntilNoSessions(client: pg.Client, database: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const left = await sessionsOn(client, database);
    if (left.length === 0) return;
    if (Date.now() > deadline) throw inUseError(database, left);
    await new Promise((resolveWait) => setTimeout(resolveWait, 50));
  }
}

/** A target left closed to connections by a swap that was killed half-way is opened again: what to tell, or undefined. */
export async function reopenIfClosed(client: pg.Client, database: string): Promise<string | undefined> {
  const row = await client.query<{ allow: boolean }>('SELECT datallowconn AS allow FROM pg_database WHERE datname = $1', [database]);
  if (row.rows[0] === undefined || row.rows[0].allow) return undefined;
  await client.query(`ALTER DATABASE ${quoteIdent(database)} ALLOW_CONNECTIONS true`);
  return `${database} had been left closed to connections by a killed restore: opened again`;
}
