import { hostname } from 'node:os';
import { join } from 'node:path';
import { open, readFile, rm } from 'node:fs/promises';
import { FerryError } from '../errors/index.js';

const LOCK_NAME = '.ferry.lock';

export interface Lock {
  release(): Promise<void>;
}

/**
 * One backup (or prune) at a time per backup directory. The lock file holds the owner's pid and
 * host; a lock left by a process that no longer runs on this host is taken over.
 */
export async function acquireLock(directory: string, purpose: string): Promise<Lock> {
  const path = join(directory, LOCK_NAME);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(path, 'wx', 0o600);
      await handle.writeFile(JSON.stringify({ pid: process.pid, host: hostname(), purpose, since: new Date().toISOString() }));
      await handle.close();
      return { release: () => rm(path, { force: true }) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = await readOwner(path);
      if (owner !== undefined && owner.host === hostname() && !isAlive(owner.pid)) {
        await rm(path, { force: true });
        continue;
      }
      const who = owner === undefined ? 'another process' : `process ${owner.pid} on ${owner.host} (${owner.purpose}, since ${owner.since})`;
      throw new FerryError('BACKUP_LOCKED', `backup directory ${directory} is in use by ${who}`, {
        hint: `Wait for that run to finish. If no ferry is running, remove ${path}.`,
      });
    }
  }
  throw new FerryError('BACKUP_LOCKED', `backup directory ${directory} is locked`, { hint: `If no ferry is running, remove ${path}.` });
}

async function readOwner(path: string): Promise<{ pid: number; host: string; purpose: string; since: string } | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as { pid: number; host: string; purpose: string; since: string };
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
