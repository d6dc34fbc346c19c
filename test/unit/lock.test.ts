import { spawn } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { acquireLock, lockState } from '../../src/ops/lock.js';
import { FerryError } from '../../src/errors/index.js';
import { tempDir } from '../support/tmp.js';

const LOCK_MODULE = fileURLToPath(new URL('../../dist/ops/lock.js', import.meta.url));

/** A pid that is certainly not running: a child that has already exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolveExit) => child.on('exit', resolveExit));
  return child.pid as number;
}

/**
 * A separate process that tries to take the lock, says whether it won, and (when it won) holds it
 * until its stdin closes, so that every contender tries while the winner still holds it.
 */
function contender(directory: string): { outcome: Promise<string>; release: () => void } {
  const script = `
    const { acquireLock } = await import(${JSON.stringify(LOCK_MODULE)});
    try {
      const lock = await acquireLock(${JSON.stringify(directory)}, 'test');
      process.stdout.write('won\\n');
      process.stdin.resume();
      process.stdin.on('end', async () => { await lock.release(); process.exit(0); });
    } catch (error) {
      process.stdout.write((error.code ?? 'error:' + error.message) + '\\n');
      process.exit(0);
    }`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  const outcome = new Promise<string>((resolveOutcome) => {
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      if (out.includes('\n')) resolveOutcome(out.trim());
    });
    child.on('exit', () => resolveOutcome(out.trim() || 'exited'));
  });
  return { outcome, release: () => child.stdin.end() };
}

describe('the backup directory lock', () => {
  it('is written with its owner (pid and start time) when it appears, and removed on release', async () => {
    const dir = await tempDir();
    const lock = await acquireLock(dir, 'backup');
    const owner = JSON.parse(await readFile(join(dir, '.ferry.lock'), 'utf8')) as Record<string, unknown>;
    expect(owner).toMatchObject({ pid: process.pid, host: hostname(), purpose: 'backup' });
    expect(owner.start).toMatch(/^\d+$/);
    expect(await lockState(dir)).toMatchObject({ state: 'held' });
    const second = await acquireLock(dir, 'prune').catch((e: unknown) => e);
    expect(second).toBeInstanceOf(FerryError);
    expect((second as FerryError).code).toBe('BACKUP_LOCKED');
    await lock.release();
    expect(await readdir(dir)).toEqual([]);
  });

  it('takes over an empty lock (left by a full disk), an unparsable one, and one whose owner is dead or whose pid was reused', async () => {
    const dir = await tempDir();
    const stale = ['', '{"pi', JSON.stringify({ pid: await deadPid(), host: hostname(), purpose: 'backup', since: 'then' }),
      JSON.stringify({ pid: process.pid, host: hostname(), purpose: 'backup', since: 'then', start: '1' })];
    for (const content of stale) {
      await writeFile(join(dir, '.ferry.lock'), content);
      expect((await lockState(dir)).state).toBe('stale');
      const lock = await acquireLock(dir, 'backup');
      expect(JSON.parse(await readFile(join(dir, '.ferry.lock'), 'utf8'))).toMatchObject({ pid: process.pid });
      await lock.release();
    }
    expect(await readdir(dir)).toEqual([]);
  });

  it('never takes over a lock of a live process, nor one from another host', async () => {
    const dir = await tempDir();
    for (const owner of [{ pid: process.pid, host: hostname() }, { pid: await deadPid(), host: 'elsewhere' }]) {
      await writeFile(join(dir, '.ferry.lock'), JSON.stringify({ ...owner, purpose: 'backup', since: 'now' }));
      const error = await acquireLock(dir, 'backup').catch((e: unknown) => e);
      expect((error as FerryError).code).toBe('BACKUP_LOCKED');
      expect((error as FerryError).message).toContain(`process ${owner.pid} on ${owner.host}`);
    }
  });

  it('lets exactly one of several concurrent processes take over a stale lock', async () => {
    const dir = await tempDir();
    const dead = await deadPid();
    for (let round = 0; round < 6; round++) {
      await writeFile(join(dir, '.ferry.lock'), round % 2 === 0 ? '' : JSON.stringify({ pid: dead, host: hostname(), purpose: 'backup', since: 'then' }));
      const takers = Array.from({ length: 6 }, () => contender(dir));
      const outcomes = await Promise.all(takers.map((t) => t.outcome));
      expect(outcomes.filter((o) => o === 'won'), `round ${round}: ${outcomes.join(', ')}`).toHaveLength(1);
      expect(outcomes.filter((o) => o !== 'won').every((o) => o === 'BACKUP_LOCKED'), outcomes.join(', ')).toBe(true);
      const winner = JSON.parse(await readFile(join(dir, '.ferry.lock'), 'utf8')) as { purpose: string };
      expect(winner.purpose).toBe('test');
      for (const taker of takers) taker.release();
      while ((await readdir(dir)).length > 0) await new Promise((r) => setTimeout(r, 20));
    }
  });
});
