import { copyFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { archiveNameFor } from '../../src/archive/naming.js';
import { ferry } from '../support/cli.js';
import { backedUpDatabase } from '../support/backed-up.js';

const DAY = 86_400_000;

async function seeded() {
  const { work, dir, env, name: real } = await backedUpDatabase('ret', 'CREATE TABLE recipes (id int); INSERT INTO recipes SELECT generate_series(1, 42);');
  for (const s of ['', '.sha256', '.manifest.json']) await copyFile(join(dir, real + s), join(work, `template${s}`));
  /** Copies the real archive and its sidecars under the name a backup taken `daysAgo` would have. */
  const age = async (daysAgo: number) => {
    const name = archiveNameFor(new Date(Date.now() - daysAgo * DAY));
    for (const s of ['', '.sha256', '.manifest.json']) await copyFile(join(work, `template${s}`), join(dir, name + s));
    return name;
  };
  return { work, dir, env, real, age };
}

describe('retention after a successful backup', () => {
  it('removes archives (and their sidecars) older than BACKUP_RETENTION_DAYS, keeps the rest and foreign files', async () => {
    const { dir, env, age } = await seeded();
    const old10 = await age(10);
    const old30 = await age(30);
    const recent = await age(3);
    await writeFile(join(dir, 'notes.txt'), 'operator notes');
    await writeFile(join(dir, 'backup_manual.tar.gz'), 'made by hand');
    const made = await ferry(['backup', '--json'], { ...env, BACKUP_RETENTION_DAYS: '7' });
    expect(made.code, made.stderr).toBe(0);
    expect((JSON.parse(made.stdout) as { pruned: string[] }).pruned.sort()).toEqual([old10, old30].sort());
    const left = await readdir(dir);
    for (const gone of [old10, old30]) expect(left.filter((n) => n.startsWith(gone))).toEqual([]);
    expect(left).toContain(recent);
    expect(left).toContain(recent + '.sha256');
    expect(left).toContain('notes.txt');
    expect(left).toContain('backup_manual.tar.gz');
    expect(left.filter((n) => n.endsWith('.tar.gz') && n.startsWith('backup_2'))).toHaveLength(3);
  });

  it('prune --dry-run explains, changes nothing, and never removes the newest backup', async () => {
    const { dir, env, age, real } = await seeded();
    const { rm } = await import('node:fs/promises');
    for (const n of await readdir(dir)) if (n.startsWith(real)) await rm(join(dir, n));
    const newest = await age(20);
    const older = await age(40);
    const before = (await readdir(dir)).sort();
    const dry = await ferry(['prune', '--dry-run', '--json', '--keep-days', '7'], env);
    expect(dry.code, dry.stderr).toBe(0);
    const plan = JSON.parse(dry.stdout) as { keep: Array<{ name: string; reasons: string[] }>; remove: Array<{ name: string; reasons: string[] }> };
    expect(plan.keep).toEqual([{ name: newest, reasons: ['newest backup'] }]);
    expect(plan.remove).toEqual([{ name: older, reasons: ['older than 7 days'] }]);
    expect((await readdir(dir)).sort()).toEqual(before);
    const real_ = await ferry(['prune', '--keep-days', '7'], env);
    expect(real_.code).toBe(0);
    expect(real_.stdout).toMatch(new RegExp(`${older}\\s+removed`));
    expect((await readdir(dir)).filter((n) => n.endsWith('.tar.gz') && n !== 'backup_latest.tar.gz')).toEqual([newest]);
  });
});

describe('list and inspect read sidecars', () => {
  it('lists newest first with size and stores, and inspects the manifest', async () => {
    const { env, age, real } = await seeded();
    const older = await age(2);
    const listed = await ferry(['list', '--json'], env);
    expect(listed.code).toBe(0);
    const data = JSON.parse(listed.stdout) as { backups: Array<{ name: string; stores: Array<{ kind: string }>; status: string; size: number }> };
    expect(data.backups.map((b) => b.name)).toEqual([real, older]);
    expect(data.backups[0]).toMatchObject({ stores: [{ kind: 'postgres', counts: expect.arrayContaining([{ object: 'public.recipes', expected: 42, actual: null }]) as unknown }], status: 'complete' });
    const text = await ferry(['list'], env);
    expect(text.stdout).toMatch(new RegExp(`${real}\\s+\\S+ \\S+\\s+\\S+ \\S+\\s+postgres\\s+complete`));

    const inspected = await ferry(['inspect', 'latest'], env);
    expect(inspected.code, inspected.stderr).toBe(0);
    expect(inspected.stdout).toMatch(/public\.recipes\s+42/);
    expect(inspected.stdout).toMatch(/server 15\.\d+, dumped with 15\.\d+/);
    const json = JSON.parse((await ferry(['inspect', real, '--json'], env)).stdout) as { formatVersion: number; entries: Array<{ path: string; sha256?: string }> };
    expect(json.formatVersion).toBe(1);
    expect(json.entries.map((e) => e.path)).toEqual(['postgresql/database.backup', 'postgresql/database.sql', 'backup_info.txt']);
    expect(json.entries.every((e) => /^[0-9a-f]{64}$/.test(e.sha256 ?? ''))).toBe(true);
  });

  it('inspect reads the manifest from inside the archive when the sidecar is gone', async () => {
    const { dir, env, real } = await seeded();
    const { rm } = await import('node:fs/promises');
    await rm(join(dir, real + '.manifest.json'));
    const inspected = await ferry(['inspect', join(dir, real)], env);
    expect(inspected.code, inspected.stderr).toBe(0);
    expect(inspected.stdout).toMatch(/public\.recipes\s+42/);
  });
});
