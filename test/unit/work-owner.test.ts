import { spawnSync } from 'node:child_process';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { layoutOf, ownerAlive, parseWorkName, workPath } from '../../src/stores/files/layout.js';
import { tempDir } from '../support/tmp.js';

describe('the owner of an uploads work folder', () => {
  it('is alive only while its pid exists with the start time recorded in the folder name', async () => {
    const layout = await layoutOf(join(await tempDir(), 'uploads'));
    // The owner as a restore records it in its work folder's name, and as a later run reads it back.
    const owner = parseWorkName(layout, basename(workPath(layout, 'restore')));
    expect(owner?.pid).toBe(process.pid);
    const started = owner?.started;
    expect(started).toMatch(/^\d+$/);
    expect(ownerAlive({ pid: process.pid, started })).toBe(true);
    expect(ownerAlive({ pid: process.pid, started: undefined })).toBe(true);
    // The pid reused by another process (here: this one, started at another tick).
    expect(ownerAlive({ pid: process.pid, started: `${Number(started) + 1}` })).toBe(false);
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
    expect(ownerAlive({ pid: Number(gone), started })).toBe(false);
  });
});
