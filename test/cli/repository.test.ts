import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, utimes, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { DeleteObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { storageConfigSchema } from '../../src/config/schema.js';
import { collect, LocalRepository, S3Repository, type Repository } from '../../src/repository/index.js';
import { backup } from '../../src/ops/backup.js';
import { silentLogger, silentProgress } from '../../src/ops/context.js';
import { ferry } from '../support/cli.js';
import { missing } from '../support/needs.js';
import { s3ServerForTests } from '../support/s3/per-file.js';
import { tempDir } from '../support/tmp.js';

/**
 * The same scenarios against both repositories: the backup directory and an S3 prefix. Backups are
 * made once, in beforeAll; each test gets its own copy of them (a directory or a prefix).
 */

const CREDENTIALS = { AWS_ACCESS_KEY_ID: 'ferrytest', AWS_SECRET_ACCESS_KEY: 'ferrytest-secret' };

const server = s3ServerForTests();
let chain: Made;
let anomaly: Made;

interface Made {
  directory: string;
  uploads: string;
  names: string[];
}

/** Backups of an uploads folder an hour apart, `change(i)` before each. */
async function makeBackups(work: string, count: number, env: Record<string, string>, change: (uploads: string, i: number) => Promise<void>): Promise<Made> {
  const uploads = join(work, 'uploads');
  const directory = join(work, 'backups');
  await mkdir(uploads);
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    const when = new Date(Date.now() - (count - i) * 3600_000);
    await change(uploads, i);
    const loaded = await loadConfig({ env: { UPLOADS_DIR: uploads, BACKUP_DIRECTORY: directory, ...env }, cwd: work });
    const made = await backup({ config: loaded.config, redactor: loaded.redactor, signal: new AbortController().signal, log: silentLogger, progress: silentProgress, now: () => when }, { noPrune: true });
    names.push(basename(made.archive));
  }
  return { directory, uploads, names };
}

beforeAll(async () => {
  // full, delta, delta, full, delta (uploads.full_every 3)
  chain = await makeBackups(await tempDir(), 5, { FERRY_UPLOADS_INCREMENTAL: 'yes', FERRY_UPLOADS_FULL_EVERY: '3' }, async (uploads, i) => {
    if (i === 0) await writeFile(join(uploads, 'big.bin'), Buffer.alloc(200_000, 1));
    await writeFile(join(uploads, `day-${i}.txt`), `day ${i}`);
    const when = new Date(Date.now() - (5 - i) * 3600_000);
    await utimes(join(uploads, `day-${i}.txt`), when, when);
  });
  // 1100 files twice, then 10: a drop health calls an anomaly.
  anomaly = await makeBackups(await tempDir(), 3, {}, async (uploads, i) => {
    if (i === 0) for (let n = 0; n < 1100; n++) await writeFile(join(uploads, `photo-${n}.jpg`), `${n}`);
    if (i === 2) for (let n = 10; n < 1100; n++) rmSync(join(uploads, `photo-${n}.jpg`));
  });
}, 120_000);

interface Repo {
  env: Record<string, string>;
  /** The names in the repository: archives and sidecars. */
  files(): string[];
  /** Where the archive's bytes are, to damage them. */
  bytesOf(name: string): string;
  /** Removes one object or file by hand (rm, aws s3 rm). */
  removeByHand(name: string): Promise<void>;
  /** Makes the next removals of this archive fail; returns the undo. */
  failRemovalOf(name: string): () => void;
}

let prefixes = 0;

const backends: Array<{ backend: string; flags: string[]; open: (made: Made) => Promise<Repo> }> = [
  {
    backend: 'local directory',
    flags: [],
    open: async (made) => {
      const directory = join(await tempDir(), 'backups');
      mkdirSync(directory);
      for (const name of readdirSync(made.directory).filter((n) => n.startsWith('backup_2'))) copyFileSync(join(made.directory, name), join(directory, name));
      return {
        env: { BACKUP_DIRECTORY: directory, UPLOADS_DIR: made.uploads },
        files: () => readdirSync(directory).filter((n) => n.startsWith('backup_2')).sort(),
        bytesOf: (name) => join(directory, name),
        removeByHand: async (name) => rmSync(join(directory, name)),
        failRemovalOf: (name) => {
          // A file that is a mount point cannot be unlinked (EBUSY), even by root.
          execFileSync('mount', ['--bind', join(directory, name), join(directory, name)]);
          return () => execFileSync('umount', [join(directory, name)]);
        },
      };
    },
  },
  {
    backend: 'S3',
    flags: ['--remote'],
    open: async (made) => {
      const prefix = `repo-${++prefixes}`;
      const env = {
        FERRY_STORAGE_REMOTE: `s3://ferry/${prefix}`, FERRY_STORAGE_ENDPOINT: server.endpoint, FERRY_STORAGE_FORCE_PATH_STYLE: 'true',
        AWS_CONFIG_FILE: '/nonexistent', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent', ...CREDENTIALS,
      };
      const pushed = await ferry(['push'], { ...env, BACKUP_DIRECTORY: made.directory, FERRY_BACKUP_RETENTION_DAYS: '365' });
      expect(pushed.code, pushed.stderr).toBe(0);
      const client = new S3Client({ endpoint: server.endpoint, forcePathStyle: true, region: 'us-east-1', credentials: { accessKeyId: CREDENTIALS.AWS_ACCESS_KEY_ID, secretAccessKey: CREDENTIALS.AWS_SECRET_ACCESS_KEY } });
      return {
        // This machine has no backups of its own: only the remote is looked at.
        env: { ...env, BACKUP_DIRECTORY: join(await tempDir(), 'laptop'), UPLOADS_DIR: made.uploads },
        files: () => server.keys('ferry').filter((k) => k.startsWith(`${prefix}/`)).map((k) => k.slice(prefix.length + 1)),
        bytesOf: (name) => server.pathOf('ferry', `${prefix}/${name}`),
        removeByHand: async (name) => {
          await client.send(new DeleteObjectCommand({ Bucket: 'ferry', Key: `${prefix}/${name}` }));
        },
        failRemovalOf: (name) => {
          // Every attempt the SDK makes (it retries a 500).
          for (let i = 0; i < 5; i++) server.failOnce((r) => r.method === 'DELETE' && r.key === `${prefix}/${name}`, 'internal-error');
          return () => undefined;
        },
      };
    },
  },
];

/** Backups in the listing whose .sha256 is there while their archive is not: what must never be. */
function looksWholeWithoutArchive(files: string[]): string[] {
  return files.filter((f) => f.endsWith('.sha256')).map((f) => f.slice(0, -'.sha256'.length)).filter((archive) => !files.includes(archive));
}

describe.each(backends)('one repository interface: $backend', ({ flags, open }) => {
  it('list shows the chain; prune keeps a kept delta\'s base and says so', async () => {
    const repo = await open(chain);
    const [full, delta1, delta2, full2, delta3] = chain.names as [string, string, string, string, string];
    const listed = await ferry(['list', ...flags], repo.env);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toContain(`uploads(delta on ${full2})`);
    expect(listed.stdout).toContain(`uploads(delta on ${delta1})`);

    const narrow = ['--keep-days', '0', '--keep-last', '1'];
    const dry = await ferry(['prune', ...flags, '--dry-run', ...narrow, '--json'], repo.env);
    expect(dry.code, dry.stderr).toBe(0);
    const plan = JSON.parse(dry.stdout) as { keep: Array<{ name: string; reasons: string[] }>; remove: Array<{ name: string }> };
    expect(plan.keep.map((k) => [k.name, k.reasons[0]])).toEqual([[delta3, 'newest backup'], [full2, `base of ${delta3}, which is kept (a delta is restored on top of it)`]]);
    expect(plan.remove.map((r) => r.name)).toEqual([delta2, delta1, full]);

    const pruned = await ferry(['prune', ...flags, ...narrow], repo.env);
    expect(pruned.code, pruned.stderr).toBe(0);
    expect(pruned.stdout).toMatch(new RegExp(`${full2}\\s+keep\\s+base of ${delta3}`));
    expect(repo.files()).toEqual([full2, delta3].flatMap((n) => [n, `${n}.manifest.json`, `${n}.sha256`, `${n}.verify.json`]).sort());
  });

  it('prune keeps the last normal backup before a sharp drop in counts', async () => {
    const repo = await open(anomaly);
    const [first, lastNormal, dropped] = anomaly.names as [string, string, string];
    const dry = await ferry(['prune', ...flags, '--dry-run', '--keep-days', '0', '--keep-last', '1', '--json'], repo.env);
    expect(dry.code, dry.stderr).toBe(0);
    const plan = JSON.parse(dry.stdout) as { keep: Array<{ name: string; reasons: string[] }>; remove: Array<{ name: string }> };
    expect(plan.keep.map((k) => k.name)).toEqual([dropped, lastNormal]);
    expect(plan.keep[1]?.reasons).toEqual([`last normal backup before ${dropped} (uploads files: 1100 → 10)`]);
    expect(plan.remove.map((r) => r.name)).toEqual([first]);
  });

  it('a base removed by hand: health is CRITICAL naming it and verify reports the missing link', async () => {
    const repo = await open(chain);
    const [, , delta2, full2, delta3] = chain.names as [string, string, string, string, string];
    await repo.removeByHand(full2);
    const health = await ferry(['health', ...flags], repo.env);
    expect(health.code, health.stdout + health.stderr).toBe(2);
    expect(health.stdout).toContain(`${full2} is missing: ${delta3} is a delta built on it and cannot be restored`);
    expect(health.stdout).toContain(flags.length === 0 ? `(ferry pull ${full2})` : `(ferry push ${full2} from a machine that has it)`);
    // Where a user picks what to restore, the broken delta is not shown as complete.
    const listed = await ferry(['list', ...flags, '--json'], repo.env);
    const statuses = Object.fromEntries((JSON.parse(listed.stdout) as { backups: Array<{ name: string; status: string; statusText: string }> }).backups.map((b) => [b.name, [b.status, b.statusText]]));
    expect(statuses[delta3]).toEqual(['chain-broken', `base ${full2} missing: cannot be restored`]);
    expect(statuses[delta2]?.[0]).toBe('complete');
    expect((await ferry(['list', ...flags], repo.env)).stdout).toMatch(new RegExp(`${delta3.replace(/\./g, '\\.')}.*base ${full2.replace(/\./g, '\\.')} missing`));
    const verified = await ferry(['verify', ...flags, delta3], repo.env);
    expect(verified.code).toBe(2);
    expect(verified.stdout).toMatch(new RegExp(`problem: archive ${full2}, the base of ${delta3}, is missing: ${delta3} cannot be restored`));
    // The fix is the missing link, not the disk: the archive itself read whole.
    expect(verified.stderr).toMatch(new RegExp(`^ferry: ${delta3.replace(/\./g, '\\.')} cannot be restored: archive ${full2.replace(/\./g, '\\.')}, the base of`, 'm'));
    expect(verified.stderr).toContain(`hint: ${delta3} itself is whole; put the missing archive back (${flags.length === 0 ? 'ferry pull <it>' : 'ferry push <it> from a machine that has it'}`);
    expect(verified.stderr).not.toContain('check the disk');
    if (flags.length > 0) {
      const pulled = await ferry(['pull', delta3], repo.env);
      expect(pulled.code).toBe(2);
      expect(pulled.stderr).toContain(`Put ${full2} back into s3://`);
      expect(pulled.stderr).toContain('or restore an older backup whose chain is whole (ferry list --remote).');
    }
    // The older chain is whole.
    const older = await ferry(['verify', ...flags, delta2], repo.env);
    expect(older.code, older.stdout + older.stderr).toBe(0);
  });

  it('verify latest of a flipped byte: exit 2, and the failure recorded beside the archive', async () => {
    const repo = await open(chain);
    const delta3 = chain.names[4] as string;
    const whole = await ferry(['verify', ...flags, 'latest', '--json'], repo.env);
    expect(whole.code, whole.stdout + whole.stderr).toBe(0);
    expect((JSON.parse(whole.stdout) as { archives: Array<{ archive: string }> }).archives.map((a) => basename(a.archive))).toEqual([delta3]);
    // In place, as a failing disk would: same size, one byte different.
    const bytes = readFileSync(repo.bytesOf(delta3));
    const at = Math.floor(bytes.length / 2);
    bytes[at] = (bytes[at] ?? 0) ^ 0xff;
    writeFileSync(repo.bytesOf(delta3), bytes);

    const damaged = await ferry(['verify', ...flags, 'latest'], repo.env);
    expect(damaged.code).toBe(2);
    expect(damaged.stderr).toMatch(new RegExp(`^ferry: ${delta3.replace(/\./g, '\\.')} is not whole: `, 'm'));
    const record = JSON.parse(readFileSync(repo.bytesOf(`${delta3}.verify.json`), 'utf8')) as { ok: boolean; findings: unknown[] };
    expect(record.ok).toBe(false);
    expect(record.findings.length).toBeGreaterThan(0);
    const listed = await ferry(['list', ...flags], repo.env);
    expect(listed.stdout).toMatch(new RegExp(`${delta3.replace(/\./g, '\\.')}.*FAILED`));
  });

  it('an interrupted removal never leaves a backup with a .sha256 whose archive is gone', async (context) => {
    if (flags.length === 0 && missing('root (mount --bind)', process.getuid?.() === 0)) context.skip();
    const repo = await open(chain);
    const [full, delta1, delta2, full2, delta3] = chain.names as [string, string, string, string, string];
    const narrow = ['--keep-days', '0', '--keep-last', '1'];
    const undo = repo.failRemovalOf(delta2);
    let failed;
    try {
      failed = await ferry(['prune', ...flags, ...narrow], repo.env);
    } finally {
      undo();
    }
    expect(failed.code, failed.stdout).toBe(1);
    expect(failed.stderr).toContain(delta2);
    const files = repo.files();
    expect(looksWholeWithoutArchive(files)).toEqual([]);
    // The one being removed lost its .sha256 first; the ones after it were not touched.
    expect(files).toContain(delta2);
    expect(files).not.toContain(`${delta2}.sha256`);
    for (const name of [full, delta1, full2, delta3]) expect(files).toContain(`${name}.sha256`);
    const listed = await ferry(['list', ...flags, '--json'], repo.env);
    const statuses = Object.fromEntries((JSON.parse(listed.stdout) as { backups: Array<{ name: string; status: string }> }).backups.map((b) => [b.name, b.status]));
    expect(statuses[delta2]).toBe(flags.length === 0 ? 'no-sidecar' : 'incomplete-upload');
    if (flags.length > 0) {
      // As verify --remote <name> and latest: an upload that has no .sha256 is not passed as whole.
      const record = readFileSync(repo.bytesOf(`${delta2}.verify.json`), 'utf8');
      const all = await ferry(['verify', ...flags, 'all', '--json'], repo.env);
      expect(all.code, all.stderr).toBe(0);
      expect((JSON.parse(all.stdout) as { archives: Array<{ archive: string }> }).archives.map((a) => basename(a.archive))).toEqual([delta3, full2, delta1, full]);
      expect(all.stderr).toContain(`${delta2} at s3://`);
      expect(all.stderr).toContain('is incomplete (no .sha256 sidecar): skipped');
      expect(readFileSync(repo.bytesOf(`${delta2}.verify.json`), 'utf8')).toBe(record);
    }

    const again = await ferry(['prune', ...flags, ...narrow], repo.env);
    expect(again.code, again.stderr).toBe(0);
    expect(repo.files()).toEqual([full2, delta3].flatMap((n) => [n, `${n}.manifest.json`, `${n}.sha256`, `${n}.verify.json`]).sort());
  });
});

/** What every Repository must do, checked through its primitives (restic's backend test suite). */
const conformance: Array<{ backend: string; open: () => Promise<{ repository: Repository; put(name: string, text: string): Promise<void>; removals(): string[] }> }> = [
  {
    backend: 'LocalRepository',
    open: async () => {
      const directory = await tempDir();
      return { repository: new LocalRepository(directory), put: async (name, text) => writeFileSync(join(directory, name), text), removals: () => [] };
    },
  },
  {
    backend: 'S3Repository',
    open: async () => {
      const prefix = `conformance-${++prefixes}`;
      Object.assign(process.env, { ...CREDENTIALS, AWS_CONFIG_FILE: '/nonexistent', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent' });
      const storage = storageConfigSchema.parse({ endpoint: server.endpoint, force_path_style: true });
      const repository = await S3Repository.open(storage, { bucket: 'ferry', prefix: `${prefix}/` }, new AbortController().signal);
      const first = server.requests.length;
      return {
        repository,
        put: (name, text) => repository.store.putText(name, text, new AbortController().signal),
        removals: () => server.requests.slice(first).filter((r) => r.method === 'DELETE').map((r) => r.key.slice(prefix.length + 1)),
      };
    },
  },
];

describe.each(conformance)('Repository conformance: $backend', ({ open }) => {
  it('catalog from the listing, sidecars and archive bytes by range, written sidecars, removal .sha256 first', async () => {
    const { repository, put, removals } = await open();
    const name = 'backup_20261101_030000.tar.gz';
    await put(name, 'archive bytes');
    await put(`${name}.sha256`, `${'0'.repeat(64)}  ${name}\n`);
    await put(`${name}.manifest.json`, '{"format": "ferry-archive"}');
    await put('notes.txt', 'not a backup');
    try {
      const listed = await repository.catalog();
      expect(listed.backups.map((b) => [b.name, b.size, b.hasChecksum, b.hasManifestSidecar, b.hasVerifySidecar])).toEqual([[name, 13, true, true, false]]);
      expect(listed.backups[0]?.path).toBe(repository.pathOf(name));
      expect(listed.foreign).toEqual(['notes.txt']);
      expect((await repository.readSidecar(name, '.manifest.json', { start: 1, end: 8 }))?.toString()).toBe('"format"');
      expect(await repository.readSidecar(name, '.verify.json')).toBeUndefined();
      expect((await collect(await repository.readArchive(name, { start: 8, end: 12 }))).toString()).toBe('bytes');
      expect((await collect(await repository.readArchive(name))).toString()).toBe('archive bytes');
      await expect(repository.readArchive('backup_20261102_030000.tar.gz')).rejects.toMatchObject({ code: 'ARCHIVE_NOT_FOUND' });

      await repository.writeSidecar(name, '.verify.json', '{"ok": true}');
      expect((await repository.catalog()).backups[0]?.hasVerifySidecar).toBe(true);
      const lock = await repository.lock('test');
      await lock?.release();

      await repository.remove(name);
      expect(await repository.catalog()).toEqual({ backups: [], foreign: ['notes.txt'] });
      if (repository.location === 'remote') expect(removals()).toEqual([`${name}.sha256`, name, `${name}.manifest.json`, `${name}.verify.json`]);
    } finally {
      await repository.close();
    }
  });
});
