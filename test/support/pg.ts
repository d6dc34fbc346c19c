import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import pg from 'pg';
import { inject } from 'vitest';

const execFileAsync = promisify(execFile);

export function pgServer(): { port: number; user: string; password: string } {
  return inject('pg');
}

export function pgUrl(database: string, overrides: { password?: string; port?: number; user?: string } = {}): string {
  const server = pgServer();
  const password = overrides.password ?? server.password;
  return `postgresql://${overrides.user ?? server.user}:${encodeURIComponent(password)}@127.0.0.1:${overrides.port ?? server.port}/${database}`;
}

export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(4).toString('hex')}`;
}

export async function query<T extends pg.QueryResultRow = Record<string, unknown>>(database: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: pgUrl(database) });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

export async function createDatabase(name = uniqueName('db')): Promise<string> {
  await query('postgres', `CREATE DATABASE "${name}"`);
  return name;
}

export async function databaseExists(name: string): Promise<boolean> {
  return (await query('postgres', 'SELECT 1 FROM pg_database WHERE datname = $1', [name])).length === 1;
}

/** Runs psql with ON_ERROR_STOP, the password through the environment. */
export async function psqlFile(database: string, file: string): Promise<void> {
  const server = pgServer();
  await execFileAsync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(server.port), '-U', server.user, '-d', database, '-f', file], {
    env: { ...process.env, PGPASSWORD: server.password },
    maxBuffer: 64 * 1024 * 1024,
  });
}

/** Every user table with its row count and an md5 over its rows in a fixed order. */
export async function tableDigests(database: string): Promise<Record<string, { rows: number; md5: string }>> {
  const tables = await query<{ name: string }>(database, `
    SELECT format('%I.%I', n.nspname, c.relname) AS name
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE (c.relkind IN ('r', 'p') OR (c.relkind = 'm' AND c.relispopulated)) AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
    ORDER BY 1`);
  const out: Record<string, { rows: number; md5: string }> = {};
  for (const { name } of tables) {
    const [row] = await query<{ rows: string; md5: string | null }>(database,
      `SELECT count(*)::text AS rows, md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS md5 FROM ${name} t`);
    out[name] = { rows: Number(row?.rows ?? 0), md5: row?.md5 ?? '' };
  }
  return out;
}

export async function sequenceValues(database: string): Promise<Record<string, string>> {
  const rows = await query<{ name: string; value: string | null }>(database,
    `SELECT format('%I.%I', schemaname, sequencename) AS name, last_value::text AS value FROM pg_sequences ORDER BY 1`);
  return Object.fromEntries(rows.map((r) => [r.name, r.value ?? 'null']));
}
