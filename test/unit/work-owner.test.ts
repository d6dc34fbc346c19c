import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ownerAlive } from '../../src/stores/files/layout.js';

const startOf = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
};

describe('the owner of an uploads work folder', () => {
  it('is alive only while its pid exists with the start time recorded in the folder name', () => {
    const started = startOf(process.pid);
    expect(ownerAlive({ pid: process.pid, started })).toBe(true);
    expect(ownerAlive({ pid: process.pid, started: undefined })).toBe(true);
    // The pid reused by another process (here: this one, started at another tick).
    expect(ownerAlive({ pid: process.pid, started: `${Number(started) + 1}` })).toBe(false);
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
    expect(ownerAlive({ pid: Number(gone), started })).toBe(false);
  });
});
