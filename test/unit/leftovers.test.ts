import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findLeftovers, removeLeftovers } from '../../src/ops/leftovers.js';
import { tempDir } from '../support/tmp.js';

describe('leftovers of dead runs (for backup and health)', () => {
  it('lists temp folders, .partial archives, sidecar temp files and sidecars without their archive, with sizes', async () => {
    const dir = await tempDir();
    const temp = await tempDir();
    await mkdir(join(dir, '.ferry-tmp-999999999-abc', 'postgres'), { recursive: true });
    await writeFile(join(dir, '.ferry-tmp-999999999-abc', 'postgres', 'database.backup'), Buffer.alloc(3000));
    await writeFile(join(dir, 'backup_20260101_020000.tar.gz.partial'), Buffer.alloc(500));
    await writeFile(join(dir, '.backup_20260101_020000.tar.gz.sha256.0a1b2c3d.tmp'), 'x');
    await writeFile(join(dir, 'backup_20260101_020000.tar.gz.manifest.json'), '{}');
    // Not leftovers: a whole backup, a verify in flight (ferry verify takes no lock), a foreign file.
    await writeFile(join(dir, 'backup_20250101_020000.tar.gz'), 'a');
    await writeFile(join(dir, 'backup_20250101_020000.tar.gz.sha256'), 'a');
    await writeFile(join(dir, '.backup_20250101_020000.tar.gz.verify.json.0a1b2c3d.tmp'), '{}');
    await writeFile(join(dir, 'notes.txt'), 'mine');
    // In a shared temp directory, the folder of a live run of another backup directory stays.
    await mkdir(join(temp, `.ferry-tmp-${process.ppid}-live`));
    await mkdir(join(temp, '.ferry-tmp-999999999-dead'));

    const found = await findLeftovers(dir, { tempDirectory: temp });
    expect(found.map((l) => [l.path.replace(`${dir}/`, 'dir/').replace(`${temp}/`, 'temp/'), l.kind, l.bytes]).sort()).toEqual([
      ['dir/.backup_20260101_020000.tar.gz.sha256.0a1b2c3d.tmp', 'temp file', 1],
      ['dir/.ferry-tmp-999999999-abc', 'temp folder', 3000],
      ['dir/backup_20260101_020000.tar.gz.manifest.json', 'sidecar without archive', 2],
      ['dir/backup_20260101_020000.tar.gz.partial', 'partial archive', 500],
      ['temp/.ferry-tmp-999999999-dead', 'temp folder', 0],
    ]);
    await removeLeftovers(found);
    expect((await readdir(dir)).sort()).toEqual(['.backup_20250101_020000.tar.gz.verify.json.0a1b2c3d.tmp', 'backup_20250101_020000.tar.gz', 'backup_20250101_020000.tar.gz.sha256', 'notes.txt']);
    expect(await readdir(temp)).toEqual([`.ferry-tmp-${process.ppid}-live`]);
  });

  it('lists nothing while a live process holds the lock: its files are work in progress', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'backup_20260101_020000.tar.gz.partial'), 'x');
    await writeFile(join(dir, '.ferry.lock'), JSON.stringify({ pid: process.pid, host: hostname(), purpose: 'backup', since: 'now' }));
    expect(await findLeftovers(dir)).toEqual([]);
    expect(await findLeftovers(dir, { lockHeld: true })).toHaveLength(1);
  });
});
