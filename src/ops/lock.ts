import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:net';
import { link, lstat, open, readFile, rm, unlink } from 'node:fs/promises';
import { writeError } from '../archive/writer.js';
import { FerryError } from '../errors/index.js';

export const LOCK_NAME = '.ferry.lock';

export interface Lock {
  release(): Promise<void>;
}

export interface LockOwner {
  pid: number;
  host: string;
  purpose: string;
  since: string;
  /** The owner's start time (clock ticks since boot, /proc/<pid>/stat): a reused pid is not the owner. */
  start?: string;
}

/** What holds a backup directory: nobody, a live process, or a lock whose owner is gone (or unreadable). */
export type LockState = { state: 'free' } | { state: 'held'; owner: LockOwner } | { state: 'stale'; owner: LockOwner | undefined };

/**
 * One backup (or prune) at a time per backup directory.
 *
 * The lock file appears with its content in one step: the owner record is written to a private temp
 * file that is then hard-linked to `.ferry.lock`, and link() fails when the name exists. So a lock
 * file that is empty or unreadable was never a live lock of this Ferry (a full disk while an older
 * version wrote it), and is taken over like one whose owner no longer runs on this host.
 */
export async function acquireLock(directory: string, purpose: string): Promise<Lock> {
  const path = join(directory, LOCK_NAME);
  const owner: LockOwner = { pid: process.pid, host: hostname(), purpose, since: new Date().toISOString(), ...startOf(process.pid) };
  const temp = join(directory, `${LOCK_NAME}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    const handle = await open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(JSON.stringify(owner));
    } finally {
      await handle.close();
    }
  } catch (cause) {
    await rm(temp, { force: true });
    throw lockWriteError(cause, path);
  }
  try {
    for (;;) {
      try {
        await link(temp, path);
        return { release: () => rm(path, { force: true }) };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw lockWriteError(error, path);
      }
      const found = await inspectLock(path);
      if (found.state === 'held') throw locked(directory, path, found.owner);
      if (found.state === 'stale') await removeStaleLock(path, found.ino);
    }
  } finally {
    await rm(temp, { force: true });
  }
}

/** Who holds the backup directory's lock, without taking it. */
export async function lockState(directory: string): Promise<LockState> {
  const found = await inspectLock(join(directory, LOCK_NAME));
  return found.state === 'held' ? { state: 'held', owner: found.owner } : found.state === 'stale' ? { state: 'stale', owner: found.owner } : { state: 'free' };
}

type Inspection = { state: 'free' } | { state: 'held'; owner: LockOwner } | { state: 'stale'; owner: LockOwner | undefined; ino: number };

async function inspectLock(path: string): Promise<Inspection> {
  let ino: number;
  let text: string;
  try {
    ino = (await lstat(path)).ino;
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { state: 'free' };
    if (code === 'EACCES' || code === 'EISDIR') return { state: 'stale', owner: undefined, ino: await inodeOf(path) };
    throw error;
  }
  const owner = parseOwner(text);
  if (owner === undefined) return { state: 'stale', owner: undefined, ino };
  if (owner.host !== hostname() || isRunning(owner)) return { state: 'held', owner };
  return { state: 'stale', owner, ino };
}

/**
 * Removes a stale lock only if it is still the very file judged stale, inside a mutex the kernel
 * releases when its holder dies (a Linux abstract socket named after the lock): of several processes
 * finding the same stale lock, one removes it and the others see either it or the winner's lock, so
 * two can never both take the directory.
 */
async function removeStaleLock(path: string, ino: number): Promise<void> {
  const mutex = await takeoverMutex(path);
  if (mutex === undefined) {
    // Another process is taking this lock over right now; look again once it is done.
    await new Promise((resolveWait) => setTimeout(resolveWait, 20));
    return;
  }
  try {
    const again = await inspectLock(path);
    if (again.state === 'stale' && again.ino === ino) await unlink(path).catch(ignoreMissing);
  } finally {
    await new Promise((resolveClose) => mutex.close(resolveClose));
  }
}

function takeoverMutex(path: string): Promise<Server | undefined> {
  // Abstract sockets exist on Linux only; elsewhere the takeover is unguarded (a narrow race).
  if (process.platform !== 'linux') return Promise.resolve(createServer());
  return new Promise((resolveMutex, rejectMutex) => {
    const server = createServer();
    server.unref();
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') resolveMutex(undefined);
      else rejectMutex(error);
    });
    server.listen(`\0ferry-lock-takeover-${createHash('sha256').update(path).digest('hex').slice(0, 40)}`, () => resolveMutex(server));
  });
}

async function inodeOf(path: string): Promise<number> {
  try {
    return (await lstat(path)).ino;
  } catch {
    return -1;
  }
}

function ignoreMissing(error: NodeJS.ErrnoException): void {
  if (error.code !== 'ENOENT') throw error;
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const value = JSON.parse(text) as Partial<LockOwner> | null;
    if (value === null || typeof value.pid !== 'number' || typeof value.host !== 'string') return undefined;
    return { pid: value.pid, host: value.host, purpose: String(value.purpose ?? 'backup'), since: String(value.since ?? '?'), ...(typeof value.start === 'string' ? { start: value.start } : {}) };
  } catch {
    return undefined;
  }
}

function isRunning(owner: LockOwner): boolean {
  try {
    process.kill(owner.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (owner.start === undefined) return true;
  const now = startOf(owner.pid).start;
  return now === undefined || now === owner.start;
}

/** Field 22 of /proc/<pid>/stat, after the command name (which may hold spaces and parentheses). */
function startOf(pid: number): { start?: string } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    return start === undefined ? {} : { start };
  } catch {
    return {};
  }
}

function locked(directory: string, path: string, owner: LockOwner): FerryError {
  return new FerryError('BACKUP_LOCKED', `backup directory ${directory} is in use by process ${owner.pid} on ${owner.host} (${owner.purpose}, since ${owner.since})`, {
    hint: `Wait for that run to finish. If no ferry is running there, remove ${path}.`,
  });
}

function lockWriteError(cause: unknown, path: string): FerryError {
  const error = writeError(cause, path);
  return error.code === 'DISK_FULL'
    ? new FerryError('DISK_FULL', `no space left to take the lock ${path}`, {
        hint: 'Free space in the backup directory (ferry prune, or a lower BACKUP_RETENTION_DAYS), then run the backup again.',
        cause,
      })
    : error;
}
