import type pg from 'pg';
import { FerryError } from '../../errors/index.js';
import { passwordOf } from '../../config/index.js';
import { parseContainer } from '../../process/container.js';
import { openTunnel, type Tunnel } from '../../process/tunnel.js';

export interface PgTarget {
  /** Full URL, password included: used only in-process, never printed or passed in argv. */
  url: string;
  connectTimeoutSeconds: number;
  /** postgres.exec: Ferry's own queries reach the server inside the container too (no published port needed). */
  exec?: string | undefined;
}

/** "postgres app@db:5432/legrimoire", never with a password. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    const user = u.username === '' ? '' : `${decodeURIComponent(u.username)}@`;
    const host = u.hostname || u.searchParams.get('host') || 'localhost';
    return `postgres ${user}${host}:${u.port || u.searchParams.get('port') || '5432'}${u.pathname}`;
  } catch {
    return 'postgres (unparseable URL)';
  }
}

export function databaseOf(url: string): string {
  try {
    const name = decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
    return name === '' ? 'postgres' : name;
  } catch {
    return 'postgres';
  }
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}

/** The environment that gives a PostgreSQL client tool the password: never its arguments. */
export function toolEnv(target: PgTarget): Record<string, string> {
  const env: Record<string, string> = { PGCONNECT_TIMEOUT: String(target.connectTimeoutSeconds) };
  const password = passwordOf(target.url);
  if (password !== undefined) env.PGPASSWORD = password;
  return env;
}

export async function withClient<T>(target: PgTarget, work: (client: pg.Client) => Promise<T>): Promise<T> {
  // Loaded on first use, so commands that never connect start faster.
  const { default: driver } = await import('pg');
  const tunnel = target.exec === undefined ? undefined : await tunnelFor(target.url, target.exec);
  const connectionString = tunnel === undefined ? target.url : throughTunnel(target.url, tunnel);
  const client = new driver.Client({ connectionString, connectionTimeoutMillis: target.connectTimeoutSeconds * 1000 });
  // A server that drops the connection later must not crash the process with an unhandled 'error'.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (cause) {
    await client.end().catch(() => undefined);
    await tunnel?.close();
    throw tunnel?.failure() ?? connectionError(target.url, cause);
  }
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
    await tunnel?.close();
  }
}

/**
 * The client finds the socket by the URL's port; inside the container the server is where pg_dump
 * there finds it (the URL's host and port are dropped for it): the container's PGPORT, else 5432.
 */
async function tunnelFor(url: string, exec: string): Promise<Tunnel> {
  const port = Number(new URL(url).port || 5432);
  return openTunnel(parseContainer(exec, 'postgres.exec'), 5432, `.s.PGSQL.${port}`, new AbortController().signal, 'PGPORT');
}

/** node-postgres reads a host parameter naming a folder as the Unix socket `<folder>/.s.PGSQL.<port>`. */
function throughTunnel(url: string, tunnel: Tunnel): string {
  const u = new URL(url);
  u.searchParams.set('host', tunnel.dir);
  return u.toString();
}

export function connectionError(url: string, cause: unknown): FerryError {
  const where = describeUrl(url);
  const code = (cause as { code?: string } | undefined)?.code;
  const message = (cause as Error | undefined)?.message ?? String(cause);
  if (code === '28P01' || code === '28000' || /password authentication failed|no password supplied/i.test(message)) {
    return new FerryError('PG_AUTH', `authentication failed for ${where}`, {
      hint: 'Check the user and password in DATABASE_URL (or postgres.url); special characters in the password must be percent-encoded.',
      cause,
    });
  }
  if (code === '3D000' || /database .* does not exist/i.test(message)) {
    return new FerryError('PG_DATABASE_MISSING', `database ${databaseOf(url)} does not exist on ${where}`, {
      hint: 'Check the database name at the end of DATABASE_URL, or create it with createdb.',
      cause,
    });
  }
  return new FerryError('PG_CONNECT', `cannot connect to ${where}: ${code ?? message}`, {
    hint: 'Check that the server is running and that host and port in DATABASE_URL are right (from inside Docker the host is the service name).',
    cause,
  });
}

/** Maps a PostgreSQL client tool's stderr to the same errors as a driver failure. */
export function toolFailure(url: string, tool: string, stderrLine: string, fallback: FerryError): FerryError {
  if (/password authentication failed|no password supplied/i.test(stderrLine)) return connectionError(url, { code: '28P01', message: stderrLine });
  if (/database ".*" does not exist/i.test(stderrLine)) return connectionError(url, { code: '3D000', message: stderrLine });
  if (/could not connect|connection refused|could not translate host name|timeout expired/i.test(stderrLine)) {
    return connectionError(url, { code: 'ECONNREFUSED', message: `${tool}: ${stderrLine}` });
  }
  return fallback;
}

/** True when the database exists; a missing one is not an error here, other failures are. */
export async function databaseExists(target: PgTarget): Promise<boolean> {
  try {
    await withClient(target, async () => undefined);
    return true;
  } catch (error) {
    if (error instanceof FerryError && error.code === 'PG_DATABASE_MISSING') return false;
    throw error;
  }
}
