import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { removeDeadRunFolders, runFolder } from '../../src/ops/run-folders.js';
import { tempDir } from '../support/tmp.js';

describe('the folders a run stages in the temp directory', () => {
  it('are removed by a later run once their run is dead, and only then', async () => {
    const root = await tempDir();
    const own = await runFolder(root, 'restore');
    expect(own).toMatch(new RegExp(`/ferry-restore-${process.pid}(\\.\\d+)?-[A-Za-z0-9]{6}$`));
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
    const dead = join(root, `ferry-restore-${gone}.123-AbC123`);
    mkdirSync(dead);
    writeFileSync(join(dead, 'database.backup'), Buffer.alloc(2048));
    const deadVerify = join(root, `ferry-verify-${gone}-xyz789`);
    mkdirSync(deadVerify);
    const sleeper = spawn('sleep', ['30']);
    const live = join(root, `ferry-plan-${sleeper.pid}-QwErTy`);
    mkdirSync(live);
    // Not Ferry's, or not named with a run: never touched.
    for (const name of ['ferry-restore-Ab12Cd', 'other-restore-1-abcdef', `ferry-backup-${gone}-abcdef`]) mkdirSync(join(root, name));
    const warnings: string[] = [];
    try {
      await removeDeadRunFolders(root, { info: () => undefined, debug: () => undefined, warn: (message) => warnings.push(message) });
    } finally {
      sleeper.kill();
    }
    expect(readdirSync(root).sort()).toEqual([`ferry-backup-${gone}-abcdef`, `ferry-plan-${sleeper.pid}-QwErTy`, own.slice(root.length + 1), 'ferry-restore-Ab12Cd', 'other-restore-1-abcdef'].sort());
    expect(existsSync(dead)).toBe(false);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^removed what a killed run left: /);
    expect(warnings[0]).toContain(`${dead} (2.0 KB)`);
    expect(warnings[0]).toContain(deadVerify);
  });
});
