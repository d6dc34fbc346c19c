import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ferry, startFerry } from '../support/cli.js';
import { createDatabase, pgUrl, query, tableDigests, uniqueName } from '../support/pg.js';
import { parsePrometheusText } from '../support/prometheus.js';
import { s3ServerForTests } from '../support/s3/per-file.js';
import { tempDir } from '../support/tmp.js';

const WRITER = { AWS_ACCESS_KEY_ID: 'ferrytest', AWS_SECRET_ACCESS_KEY: 'ferrytest-secret' };
const READER = { AWS_ACCESS_KEY_ID: 'ferryreader', AWS_SECRET_ACCESS_KEY: 'ferryreader-secret' };

const server = s3ServerForTests();

function remoteEnv(prefix: string, backups: string, credentials: Record<string, string> = WRITER): Record<string, string> {
  return {
    BACKUP_DIRECTORY: backups,
    FERRY_STORAGE_REMOTE: `s3://ferry/${prefix}`,
    FERRY_STORAGE_ENDPOINT: server.endpoint,
    FERRY_STORAGE_FORCE_PATH_STYLE: 'true',
    FERRY_STORAGE_PART_SIZE_MB: '5',
    // Nothing from this machine's AWS set-up may take part.
    AWS_CONFIG_FILE: '/nonexistent',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
    ...credentials,
  };
}

const sha256 = async (path: string) => createHash('sha256').update(await readFile(path)).digest('hex');

/** A file that stands for an archive, with the sidecars ferry backup writes. */
async function fakeArchive(directory: string, name: string, bytes: number, verified?: boolean): Promise<string> {
  mkdirSync(directory, { recursive: true });
  const path = join(directory, name);
  const out = createWriteStream(path);
  const hash = createHash('sha256');
  for (let left = bytes; left > 0; left -= 4 * 1024 * 1024) {
    const chunk = randomBytes(Math.min(left, 4 * 1024 * 1024));
    chunk[0] = 0x1f;
    chunk[1] = 0x8b;
    hash.update(chunk);
    if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((r) => out.end(() => r()));
  writeFileSync(`${path}.sha256`, `${hash.digest('hex')}  ${name}\n`);
  if (verified !== undefined) writeFileSync(`${path}.verify.json`, JSON.stringify({ checkedAt: new Date().toISOString(), ok: verified }));
  return path;
}

describe('S3 remote storage', () => {
  it('backup uploads; a read-only laptop lists, pulls and restores s3://…/latest', async () => {
    const work = await tempDir();
    const db = await createDatabase(uniqueName('s3src'));
    await query(db, `CREATE TABLE recipes (id int PRIMARY KEY, title text); INSERT INTO recipes SELECT g, 'Recette ' || g FROM generate_series(1, 500) g;`);
    mkdirSync(join(work, 'uploads'));
    writeFileSync(join(work, 'uploads', 'tarte.jpg'), randomBytes(200_000));
    const backups = join(work, 'server-backups');
    const env = { ...remoteEnv('grimoire', backups), DATABASE_URL: pgUrl(db), UPLOADS_DIR: join(work, 'uploads') };
    const made = await ferry(['backup', '--metrics-file', join(work, 'backup.prom')], env);
    expect(made.code, made.stderr).toBe(0);
    expect(made.stdout).toMatch(/uploaded to s3:\/\/ferry\/grimoire\//);
    const name = readdirSync(backups).find((n) => n.endsWith('.tar.gz'))!;
    expect(server.keys('ferry').filter((k) => k.startsWith('grimoire/'))).toEqual(
      [name, `${name}.manifest.json`, `${name}.sha256`, `${name}.verify.json`].map((n) => `grimoire/${n}`).sort(),
    );
    expect(parsePrometheusText(readFileSync(join(work, 'backup.prom'), 'utf8')).get('ferry_backup_last_upload_success{location="local"}')).toBe(1);

    const laptop = join(work, 'laptop-backups');
    const listed = await ferry(['list', '--remote', '--json'], remoteEnv('grimoire', laptop, READER));
    expect(listed.code, listed.stderr).toBe(0);
    const entries = (JSON.parse(listed.stdout) as { backups: Array<{ name: string; status: string; stores: Array<{ kind: string }>; verification: { ok: boolean } }> }).backups;
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ name, status: 'complete', stores: [{ kind: 'postgres' }, { kind: 'uploads' }], verification: { ok: true } });

    const pulled = await ferry(['pull', 'latest'], remoteEnv('grimoire', laptop, READER));
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(await sha256(join(laptop, name))).toBe(await sha256(join(backups, name)));
    expect(readdirSync(laptop).sort()).toEqual([name, `${name}.manifest.json`, `${name}.sha256`, `${name}.verify.json`]);
    expect((await ferry(['pull', 'latest'], remoteEnv('grimoire', laptop, READER))).stdout).toMatch(/already here/);

    // Straight from the bucket, with only read access and no storage section: the URL is enough.
    const target = uniqueName('s3dev');
    const fresh = join(work, 'fresh-laptop');
    const restored = await ferry(['restore', 's3://ferry/grimoire/latest', '--yes'], {
      ...READER, AWS_CONFIG_FILE: '/nonexistent', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
      AWS_ENDPOINT_URL_S3: server.endpoint, FERRY_STORAGE_FORCE_PATH_STYLE: 'true',
      BACKUP_DIRECTORY: fresh, DATABASE_URL: pgUrl(target), UPLOADS_DIR: join(work, 'dev-uploads'),
    });
    expect(restored.code, restored.stderr).toBe(0);
    expect(await tableDigests(target)).toEqual(await tableDigests(db));
    expect(readFileSync(join(work, 'dev-uploads', 'tarte.jpg'))).toEqual(readFileSync(join(work, 'uploads', 'tarte.jpg')));

    const healthy = await ferry(['health', '--remote', '--deep', '--metrics-file', join(work, 'remote.prom')], { ...remoteEnv('grimoire', backups), DATABASE_URL: pgUrl(db), UPLOADS_DIR: join(work, 'uploads') });
    expect(healthy.code, healthy.stdout + healthy.stderr).toBe(0);
    expect(healthy.stdout).toMatch(/^FERRY OK - last backup .* verified/);
    const remoteMetrics = parsePrometheusText(readFileSync(join(work, 'remote.prom'), 'utf8'));
    expect(remoteMetrics.get('ferry_backup_archives{location="remote"}')).toBe(1);
    expect(remoteMetrics.get('ferry_health_status{location="remote"}')).toBe(0);

    const denied = await ferry(['push', name], remoteEnv('grimoire-copy', backups, READER));
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/^ferry: uploading s3:\/\/ferry\/grimoire-copy\/.*refused the request: AccessDenied/m);
  });

  it('wrong credentials and a missing bucket: one clear error, the local backup kept, push catches up', async () => {
    const work = await tempDir();
    const backups = join(work, 'backups');
    mkdirSync(join(work, 'uploads'));
    writeFileSync(join(work, 'uploads', 'a.jpg'), randomBytes(5000));
    const env = { ...remoteEnv('creds', backups), UPLOADS_DIR: join(work, 'uploads'), AWS_SECRET_ACCESS_KEY: 'not-the-secret-123' };
    const failed = await ferry(['backup', '--metrics-file', join(work, 'm.prom')], env);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/^ferry: the backup is kept locally, but the upload to s3:\/\/ferry\/creds\/ failed: .*SignatureDoesNotMatch/m);
    expect(failed.stderr).toMatch(/^hint: Check AWS_ACCESS_KEY_ID/m);
    expect(failed.stderr + failed.stdout).not.toContain('not-the-secret-123');
    expect(failed.stderr).not.toMatch(/\n\s+at /);
    const metrics = parsePrometheusText(readFileSync(join(work, 'm.prom'), 'utf8'));
    expect(metrics.get('ferry_backup_last_run_success{location="local"}')).toBe(1);
    expect(metrics.get('ferry_backup_last_upload_success{location="local"}')).toBe(0);
    const name = readdirSync(backups).find((n) => n.endsWith('.tar.gz'))!;
    expect(existsSync(join(backups, `${name}.sha256`))).toBe(true);
    expect(server.keys('ferry').filter((k) => k.startsWith('creds/'))).toEqual([]);

    const unknownKey = await ferry(['list', '--remote'], { ...remoteEnv('creds', backups), AWS_ACCESS_KEY_ID: 'nobody' });
    expect(unknownKey.code).toBe(1);
    expect(unknownKey.stderr).toMatch(/InvalidAccessKeyId/);

    const noBucket = await ferry(['push'], { ...remoteEnv('x', backups), FERRY_STORAGE_REMOTE: 's3://no-such-bucket/x' });
    expect(noBucket.code).toBe(1);
    expect(noBucket.stderr).toMatch(/^ferry: listing s3:\/\/no-such-bucket\/x\/: the bucket does not exist$/m);

    const unreachable = await ferry(['list', '--remote'], { ...remoteEnv('x', backups), FERRY_STORAGE_ENDPOINT: 'http://127.0.0.1:9' });
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(/^ferry: listing s3:\/\/ferry\/x\/: the endpoint did not answer \(ECONNREFUSED\)$/m);

    const pushed = await ferry(['push'], remoteEnv('creds', backups));
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(pushed.stdout).toMatch(new RegExp(`uploaded ${name.replace(/\./g, '\\.')} to s3://ferry/creds/`));
    expect((await ferry(['push'], remoteEnv('creds', backups))).stdout).toMatch(/already at|nothing to upload/);
  });

  it('a corrupted remote object is caught by pull and by health --remote --deep; nothing is kept', async () => {
    const work = await tempDir();
    const backups = join(work, 'backups');
    const name = 'backup_20261120_030000.tar.gz';
    await fakeArchive(backups, name, 6 * 1024 * 1024, true);
    expect((await ferry(['push', name], remoteEnv('corrupt', backups))).code).toBe(0);
    const stored = server.pathOf('ferry', `corrupt/${name}`);
    const bytes = readFileSync(stored);
    bytes[3_000_000] = (bytes[3_000_000] ?? 0) ^ 0xff;
    writeFileSync(stored, bytes);

    const laptop = join(work, 'laptop');
    const pulled = await ferry(['pull', 'latest'], remoteEnv('corrupt', laptop, READER));
    expect(pulled.code).toBe(2);
    expect(pulled.stderr).toMatch(/^ferry: s3:\/\/ferry\/corrupt\/backup_20261120_030000\.tar\.gz is damaged: its sha256 is [0-9a-f]{64}, its \.sha256 sidecar says/m);
    expect(readdirSync(laptop)).toEqual([]);

    const health = await ferry(['health', '--remote', '--deep', '--max-age', '100000', '--critical-age', '100000'], remoteEnv('corrupt', backups));
    expect(health.code, health.stdout).toBe(2);
    expect(health.stdout).toMatch(/^FERRY CRITICAL - .* is not whole: .* has sha256 [0-9a-f]{64}, its \.sha256 sidecar says/);
  });

  it('prune --remote applies retention there, keeps the newest verified one, and --dry-run changes nothing', async () => {
    const work = await tempDir();
    const backups = join(work, 'backups');
    const names = ['backup_20261101_030000.tar.gz', 'backup_20261102_030000.tar.gz', 'backup_20261103_030000.tar.gz', 'backup_20261104_030000.tar.gz'];
    for (const [i, name] of names.entries()) await fakeArchive(backups, name, 10_000, i === 0 ? true : undefined);
    const env = { ...remoteEnv('prune', backups), FERRY_BACKUP_RETENTION_DAYS: '0', FERRY_BACKUP_KEEP_LAST: '1' };
    // Without a name, push would send only what remote retention keeps (the newest): name each.
    for (const name of names) expect((await ferry(['push', name], env)).code).toBe(0);
    expect(server.keys('ferry').filter((k) => k.startsWith('prune/') && k.endsWith('.tar.gz'))).toHaveLength(4);

    const dry = await ferry(['prune', '--remote', '--dry-run', '--json'], env);
    expect(dry.code, dry.stderr).toBe(0);
    const plan = JSON.parse(dry.stdout) as { location: string; remove: Array<{ name: string }>; keep: Array<{ name: string; reasons: string[] }> };
    expect(plan.location).toBe('s3://ferry/prune/');
    expect(plan.remove.map((d) => d.name).sort()).toEqual([names[1], names[2]]);
    expect(plan.keep.find((d) => d.name === names[0])?.reasons.join()).toMatch(/verified/);
    expect(server.keys('ferry').filter((k) => k.startsWith('prune/'))).toHaveLength(4 * 2 + 1);

    const pruned = await ferry(['prune', '--remote'], env);
    expect(pruned.code, pruned.stderr).toBe(0);
    expect(server.keys('ferry').filter((k) => k.startsWith('prune/'))).toEqual(
      [`prune/${names[0]}`, `prune/${names[0]}.sha256`, `prune/${names[0]}.verify.json`, `prune/${names[3]}`, `prune/${names[3]}.sha256`].sort(),
    );
    // The local directory is another location, with its own prune.
    expect(readdirSync(backups).filter((n) => n.endsWith('.tar.gz') && !n.startsWith('backup_latest'))).toHaveLength(4);
  });

  it('retries a failed part, and a push killed half-way is finished by the next push', async () => {
    const work = await tempDir();
    const backups = join(work, 'backups');
    const name = 'backup_20261121_030000.tar.gz';
    const archive = await fakeArchive(backups, name, 40 * 1024 * 1024);
    const env = remoteEnv('resume', backups);

    let killed = false;
    const run = startFerry(['push', name], env);
    server.onRequest = (r) => {
      if (!killed && r.key === `resume/${name}` && r.query.get('partNumber') === '4') {
        killed = true;
        run.child.kill('SIGKILL');
      }
    };
    await run.done;
    server.onRequest = undefined;
    expect(killed).toBe(true);
    expect(server.keys('ferry').filter((k) => k.startsWith('resume/'))).toEqual([]);
    const early = await ferry(['pull', 'latest'], remoteEnv('resume', join(work, 'laptop'), READER));
    expect(early.code).toBe(3);
    expect(early.stderr).toMatch(/no complete backup at s3:\/\/ferry\/resume\//);

    server.failOnce((r) => r.key === `resume/${name}` && r.query.get('partNumber') === '2', 'internal-error');
    server.failOnce((r) => r.key === `resume/${name}` && r.query.get('partNumber') === '5', 'reset');
    const before = server.requests.length;
    const again = await ferry(['push'], env);
    expect(again.code, again.stderr).toBe(0);
    const partRequests = server.requests.slice(before).filter((r) => r.method === 'PUT' && r.query.has('partNumber')).map((r) => Number(r.query.get('partNumber')));
    expect(partRequests.filter((n) => n === 2)).toHaveLength(2);
    expect(partRequests.filter((n) => n === 5)).toHaveLength(2);
    expect(new Set(partRequests).size).toBe(8);
    // The parts the killed push left behind were aborted, so they cost nothing.
    expect(server.pendingUploads()).toBe(0);

    const laptop = join(work, 'laptop');
    const pulled = await ferry(['pull', 'latest'], remoteEnv('resume', laptop, READER));
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(await sha256(join(laptop, name))).toBe(await sha256(archive));
  });

  it('a stored object that differs from what was sent is removed and reported', async () => {
    const work = await tempDir();
    const backups = join(work, 'backups');
    const name = 'backup_20261124_030000.tar.gz';
    await fakeArchive(backups, name, 12 * 1024 * 1024);
    server.failOnce((r) => r.key === `lossy/${name}` && r.method === 'POST' && r.query.has('uploadId'), 'lose-tail');
    const pushed = await ferry(['push', name], remoteEnv('lossy', backups));
    expect(pushed.code).toBe(2);
    expect(pushed.stderr).toMatch(/^ferry: s3:\/\/ferry\/lossy\/backup_20261124_030000\.tar\.gz does not hold what was sent: size 12582911 \(sent 12582912\)/m);
    expect(server.keys('ferry').filter((k) => k.startsWith('lossy/'))).toEqual([]);
  });

  it('a local archive changed since its backup is not left on the remote', async () => {
    const work = await tempDir();
    const backups = join(work, 'backups');
    const name = 'backup_20261122_030000.tar.gz';
    const archive = await fakeArchive(backups, name, 100_000);
    const other = await fakeArchive(join(work, 'other'), name, 100_000);
    copyFileSync(other, archive);
    const pushed = await ferry(['push', name], remoteEnv('changed', backups));
    expect(pushed.code).toBe(2);
    expect(pushed.stderr).toMatch(/no longer matches its \.sha256 sidecar/);
    expect(server.keys('ferry').filter((k) => k.startsWith('changed/'))).toEqual([]);
  });

  it('uploads and downloads several hundred MB with bounded memory', async () => {
    const work = await tempDir();
    const backups = join(work, 'backups');
    const name = 'backup_20261123_030000.tar.gz';
    const size = 300 * 1024 * 1024;
    const archive = await fakeArchive(backups, name, size);
    const peakRss = async (args: string[], env: Record<string, string>) => {
      const run = startFerry(args, { ...env, NODE_OPTIONS: '--max-old-space-size=64' });
      let peak = 0;
      const timer = setInterval(() => {
        try {
          const status = readFileSync(`/proc/${run.child.pid}/status`, 'utf8');
          peak = Math.max(peak, Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024);
        } catch {
          // The process has just exited.
        }
      }, 25);
      const result = await run.done;
      clearInterval(timer);
      expect(result.code, result.stderr).toBe(0);
      return peak;
    };
    const uploadPeak = await peakRss(['push', name], remoteEnv('big', backups));
    const laptop = join(work, 'laptop');
    const downloadPeak = await peakRss(['pull', name], remoteEnv('big', laptop, READER));
    expect(await sha256(join(laptop, name))).toBe(await sha256(archive));
    // 5 MB parts, 4 at a time: well under the archive's size.
    expect(uploadPeak).toBeGreaterThan(0);
    expect(uploadPeak).toBeLessThan(200 * 1024 * 1024);
    expect(downloadPeak).toBeLessThan(200 * 1024 * 1024);
  });
});
