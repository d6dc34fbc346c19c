import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chmod, mkdir, readFile, rename, rm, stat, symlink, unlink, utimes, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { backup } from '../../src/ops/backup.js';
import { consolidate } from '../../src/ops/consolidate.js';
import { maskArchive } from '../../src/ops/mask.js';
import { silentLogger, silentProgress, type OperationContext } from '../../src/ops/context.js';
import { applyRestore, guardRestore, planRestore } from '../../src/ops/restore/index.js';
import { FerryError } from '../../src/errors/index.js';
import { snapshotTree, type TreeEntry } from '../support/tree.js';
import { tempDir } from '../support/tmp.js';
import { storeCtx } from '../support/uploads-restore.js';

const DAY = 24 * 3600 * 1000;

/** The one shell block of docs/restore.md's "A chain by hand". */
function chainLoop(): string {
  const markdown = readFileSync(fileURLToPath(new URL('../../docs/restore.md', import.meta.url)), 'utf8');
  const start = markdown.indexOf('\n## A chain by hand\n');
  const section = markdown.slice(start, markdown.indexOf('\n## ', start + 1));
  const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1] as string);
  expect(start).toBeGreaterThan(0);
  expect(blocks).toHaveLength(1);
  return blocks[0] as string;
}
const FIRST = Date.parse('2026-03-01T02:00:00Z');

async function context(env: Record<string, string>, day: number): Promise<OperationContext> {
  const loaded = await loadConfig({ env, cwd: env.BACKUP_DIRECTORY as string });
  return { config: loaded.config, redactor: loaded.redactor, signal: new AbortController().signal, log: silentLogger, progress: silentProgress, now: () => new Date(FIRST + day * DAY) };
}

/** Writes a file with an explicit time, as the simulated day's clock would have. */
async function put(root: string, path: string, content: string | Buffer, day: number, minute = 0): Promise<void> {
  await mkdir(join(root, path, '..'), { recursive: true });
  await writeFile(join(root, path), content);
  await touch(root, path, day, minute);
}

async function touch(root: string, path: string, day: number, minute = 0): Promise<void> {
  const when = new Date(FIRST - 3600_000 + day * DAY + minute * 60_000);
  await utimes(join(root, path), when, when);
}

/** What each simulated day does to the folder: the cases issue 21 lists. */
const DAYS: Array<(root: string) => Promise<void>> = [
  async (root) => {
    await put(root, 'photos/big.bin', randomBytes(600 * 1024), 0);
    await put(root, 'photos/a.jpg', 'photo a', 0);
    await put(root, 'ocr/scan 1.txt', 'first scan', 0);
    await put(root, 'ocr/old/x.txt', 'x', 0);
    await put(root, 'ocr/old/y.txt', 'y', 0);
    await put(root, 'notes/gâteau.md', 'crème', 0);
    await chmod(join(root, 'notes/gâteau.md'), 0o600);
    await symlink('photos/a.jpg', join(root, 'cover.jpg'));
  },
  // Added files, one in a new folder.
  async (root) => {
    await put(root, 'photos/b.jpg', 'photo b', 1);
    await put(root, 'photos/2026/03/c.jpg', 'photo c', 1);
  },
  // Changed: the same size with a new time.
  async (root) => {
    await put(root, 'photos/a.jpg', 'PHOTO A', 2);
  },
  // Changed: new content of another size under the very same time.
  async (root) => {
    const before = await stat(join(root, 'ocr/scan 1.txt'));
    await writeFile(join(root, 'ocr/scan 1.txt'), 'first scan, corrected');
    await utimes(join(root, 'ocr/scan 1.txt'), before.atime, before.mtime);
  },
  // Deleted and renamed.
  async (root) => {
    await unlink(join(root, 'photos/b.jpg'));
    await rename(join(root, 'ocr/scan 1.txt'), join(root, 'ocr/scan-1.txt'));
  },
  // A folder replaced by a file, a link pointed elsewhere, a mode changed alone.
  async (root) => {
    await rm(join(root, 'ocr/old'), { recursive: true });
    await put(root, 'ocr/old', 'now a file', 5);
    await unlink(join(root, 'cover.jpg'));
    await symlink('photos/2026/03/c.jpg', join(root, 'cover.jpg'));
    await chmod(join(root, 'photos/a.jpg'), 0o640);
  },
  // A file replaced by a folder.
  async (root) => {
    await rm(join(root, 'ocr/old'));
    await put(root, 'ocr/old/z.txt', 'z', 6);
  },
  // The eighth backup: a full again (uploads.full_every 7).
  async (root) => {
    await put(root, 'photos/d.jpg', 'photo d', 7);
  },
];

describe('incremental uploads: a week of chains', () => {
  it('writes a full then deltas, and restores every day to that day\'s folder', async () => {
    const work = await tempDir();
    const source = join(work, 'uploads');
    await mkdir(source);
    const backups = join(work, 'backups');
    const env = { UPLOADS_DIR: source, BACKUP_DIRECTORY: backups, FERRY_UPLOADS_INCREMENTAL: 'true' };
    const days: Array<{ archive: string; tree: Record<string, TreeEntry>; size: number }> = [];
    for (const [day, change] of DAYS.entries()) {
      await change(source);
      // Folders change their time as files come and go; the tree records them as the backup sees them.
      const made = await backup(await context(env, day), { noPrune: true });
      days.push({ archive: made.archive, tree: await snapshotTree(source), size: made.size });
    }
    const kinds = await Promise.all(days.map(async (d) => JSON.parse(await readFile(`${d.archive}.manifest.json`, 'utf8')) as { stores: { uploads: { chain: { kind: string; base?: { name: string } } } }; chainDeleted?: string[] }));
    expect(kinds.map((m) => m.stores.uploads.chain.kind)).toEqual(['full', 'delta', 'delta', 'delta', 'delta', 'delta', 'delta', 'full']);
    expect(kinds[3]?.stores.uploads.chain.base?.name).toBe(basename(days[2]!.archive));
    expect(kinds[4]?.chainDeleted?.sort()).toEqual(['uploads/ocr/scan 1.txt', 'uploads/photos/b.jpg']);
    expect(kinds[5]?.chainDeleted).toContain('uploads/ocr/old/');
    // The unchanged 600 KB of random bytes is in the full only.
    for (const delta of days.slice(1, 7)) expect(delta.size).toBeLessThan(days[0]!.size / 4);

    // Restored into one folder, newest first and back: every file is checked, most are hard-linked.
    const target = join(work, 'dev-uploads');
    for (const day of [6, 3, 0, 5, 1, 2, 4, 7]) {
      const ctx = await context({ UPLOADS_DIR: target, BACKUP_DIRECTORY: backups }, 8);
      const plan = await planRestore(ctx, days[day]!.archive, {}, storeCtx(work));
      expect(plan.chain?.map((l) => l.name), `day ${day}`).toEqual(day === 0 || day === 7 ? undefined : days.slice(0, day).map((d) => basename(d.archive)));
      guardRestore(plan);
      const result = await applyRestore(ctx, plan);
      expect(result.mismatches, `day ${day}`).toEqual([]);
      expect(await snapshotTree(target, '', (name) => name.startsWith('.ferry')), `day ${day}`).toEqual(days[day]!.tree);
    }

    // docs/restore.md's loop, run as written, gives every day's folder from its chain too.
    const loop = chainLoop();
    for (const day of [4, 6]) {
      const here = await tempDir();
      const run = spawnSync('bash', ['-euo', 'pipefail', '-c', loop, 'chain', ...days.slice(0, day + 1).map((d) => d.archive)], { cwd: here, encoding: 'utf8' });
      expect(run.status, `${loop}\n${run.stderr}`).toBe(0);
      expect(await snapshotTree(join(here, 'uploads')), `day ${day} by hand`).toEqual(days[day]!.tree);
    }

    // A synthetic full of day 6, from its chain alone: the uploads folder is gone meanwhile.
    await rm(source, { recursive: true });
    const consolidated = await consolidate(await context({ UPLOADS_DIR: source, BACKUP_DIRECTORY: backups }, 8), days[6]!.archive);
    expect(consolidated.chain).toEqual(days.slice(0, 7).map((d) => basename(d.archive)));
    expect(basename(consolidated.archive!)).toBe(basename(days[6]!.archive).replace(/00\.tar\.gz$/, '01.tar.gz'));
    const synthetic = JSON.parse(await readFile(`${consolidated.archive!}.manifest.json`, 'utf8')) as { formatVersion: number; stores: { uploads: { chain: { kind: string } } }; chainFiles?: unknown };
    expect([synthetic.formatVersion, synthetic.stores.uploads.chain.kind, synthetic.chainFiles]).toEqual([1, 'full', undefined]);
    const ctx = await context({ UPLOADS_DIR: target, BACKUP_DIRECTORY: backups }, 8);
    const plan = await planRestore(ctx, consolidated.archive!, {}, storeCtx(work));
    expect(plan.chain).toBeUndefined();
    await applyRestore(ctx, plan);
    expect(await snapshotTree(target, '', (name) => name.startsWith('.ferry'))).toEqual(days[6]!.tree);
  });

  it('refuses a delta whose base was deleted by hand, and leaves the target as it was', async () => {
    const work = await tempDir();
    const source = join(work, 'uploads');
    const backups = join(work, 'backups');
    const env = { UPLOADS_DIR: source, BACKUP_DIRECTORY: backups, FERRY_UPLOADS_INCREMENTAL: 'true' };
    await put(source, 'a.txt', 'a', 0);
    const full = await backup(await context(env, 0), { noPrune: true });
    await put(source, 'b.txt', 'b', 1);
    const delta = await backup(await context(env, 1), { noPrune: true });
    expect(delta.manifest.stores.uploads?.chain?.kind).toBe('delta');
    await rm(full.archive);
    const target = join(work, 'dev-uploads');
    await put(target, 'mine.txt', 'untouched', 0);
    const before = await snapshotTree(target);
    const ctx = await context({ UPLOADS_DIR: target, BACKUP_DIRECTORY: backups }, 2);
    // A masked copy of a delta alone would be useless: mask says to consolidate first.
    await writeFile(join(work, 'mask.yaml'), 'mask:\n  postgres:\n    recipes:\n      title: text\n');
    const masking = await loadConfig({ env: { UPLOADS_DIR: source, BACKUP_DIRECTORY: backups, FERRY_CONFIG: join(work, 'mask.yaml') }, cwd: work });
    process.env.FERRY_MASK_KEY = 'mask-key-for-tests-0123456789';
    const notMasked = await maskArchive({ ...ctx, config: masking.config }, delta.archive, join(work, 'masked.tar.gz')).then(() => undefined, (error: unknown) => error);
    delete process.env.FERRY_MASK_KEY;
    expect([(notMasked as FerryError).code, (notMasked as FerryError).hint]).toEqual(['USAGE', `Run ferry consolidate ${basename(delta.archive)} and mask the full it writes.`]);
    const refused = await planRestore(ctx, delta.archive, {}, storeCtx(work)).then(() => undefined, (error: unknown) => error);
    expect(refused).toBeInstanceOf(FerryError);
    expect((refused as FerryError).code).toBe('CHAIN_LINK_MISSING');
    expect((refused as FerryError).message).toContain(basename(full.archive));
    expect(await snapshotTree(target)).toEqual(before);
  });

  it('refuses a delta whose full is damaged, naming it, and leaves the target as it was', async () => {
    const work = await tempDir();
    const source = join(work, 'uploads');
    const backups = join(work, 'backups');
    const env = { UPLOADS_DIR: source, BACKUP_DIRECTORY: backups, FERRY_UPLOADS_INCREMENTAL: 'true' };
    await put(source, 'photo.bin', randomBytes(300 * 1024), 0);
    const full = await backup(await context(env, 0), { noPrune: true });
    await put(source, 'b.txt', 'b', 1);
    const delta = await backup(await context(env, 1), { noPrune: true });
    const bytes = await readFile(full.archive);
    const middle = Math.floor(bytes.length / 2);
    bytes.writeUInt8(bytes.readUInt8(middle) ^ 0xff, middle);
    await writeFile(full.archive, bytes);
    const target = join(work, 'dev-uploads');
    await put(target, 'mine.txt', 'untouched', 0);
    const before = await snapshotTree(target);
    const ctx = await context({ UPLOADS_DIR: target, BACKUP_DIRECTORY: backups }, 2);
    const plan = await planRestore(ctx, delta.archive, {}, storeCtx(work));
    const refused = await applyRestore(ctx, plan).then(() => undefined, (error: unknown) => error);
    expect((refused as FerryError).code).toBe('ARCHIVE_CORRUPT');
    expect((refused as FerryError).message).toContain(basename(full.archive));
    expect(await snapshotTree(target)).toEqual(before);
  });
});
