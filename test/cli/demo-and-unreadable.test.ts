import { chmod, chown, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ferry, FERRY_BIN, cleanEnv } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';
import { spawn } from 'node:child_process';
import { missing } from '../support/needs.js';

describe('ferry demo', () => {
  it('backs up, restores into a second database and folder, and reports every count as ok', async () => {
    const result = await ferry(['demo'], {});
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/postgres\s+public\.recipes\s+250\s+250\s+ok/);
    expect(result.stdout).toMatch(/postgres\s+public\.users\s+12\s+12\s+ok/);
    expect(result.stdout).toMatch(/uploads\s+files\s+11\s+11\s+ok/);
    expect(result.stdout).toMatch(/demo OK: every count matches\./);
    expect(result.stderr).toMatch(/stopped the throw-away server and removed its files/);
    expect(result.stderr).toMatch(/MongoDB: skipped \(set MONGODB_URL/);
  });
});

const NOBODY = 65534;
const asRoot = process.getuid?.() === 0;

/** Runs ferry as an unprivileged user, so that file permissions apply (root reads everything). */
function ferryAsNobody(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolveRun) => {
    const child = spawn(process.execPath, [FERRY_BIN, ...args], { env: cleanEnv({ ...env, HOME: '/tmp' }), uid: NOBODY, gid: NOBODY, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('close', (code) => resolveRun({ code, stdout, stderr }));
  });
}

describe.skipIf(missing('root (to run ferry as an unprivileged user)', asRoot))('unreadable upload files (run as an unprivileged user; needs root to switch)', () => {
  it('are reported by name as a warning, or fail the backup with uploads.strict', async () => {
    const work = await tempDir();
    await chmod(work, 0o755);
    const uploads = join(work, 'uploads');
    await mkdir(uploads);
    await writeFile(join(uploads, 'ok.jpg'), 'fine');
    await writeFile(join(uploads, 'locked.jpg'), 'no entry');
    await chmod(join(uploads, 'locked.jpg'), 0o000);
    const backups = join(work, 'backups');
    await mkdir(backups, { mode: 0o700 });
    await chown(backups, NOBODY, NOBODY);

    const lenient = await ferryAsNobody(['backup', '--json'], { UPLOADS_DIR: uploads, BACKUP_DIRECTORY: backups });
    expect(lenient.code, lenient.stderr).toBe(0);
    expect((JSON.parse(lenient.stdout) as { warnings: string[] }).warnings).toEqual([`cannot read ${join(uploads, 'locked.jpg')}: EACCES`]);
    const manifestName = (await readdir(backups)).find((n) => n.endsWith('.manifest.json'))!;
    const manifest = JSON.parse(await readFile(join(backups, manifestName), 'utf8')) as { stores: { uploads: { counts: { files: number }; warnings: string[] } } };
    expect(manifest.stores.uploads.counts.files).toBe(1);
    expect(manifest.stores.uploads.warnings[0]).toMatch(/locked\.jpg/);

    const strict = await ferryAsNobody(['backup'], { UPLOADS_DIR: uploads, BACKUP_DIRECTORY: backups, FERRY_UPLOADS_STRICT: 'true' });
    expect(strict.code).toBe(1);
    expect(strict.stderr).toMatch(/^ferry: cannot read .*locked\.jpg: EACCES$/m);
    expect((await readdir(backups)).filter((n) => n.endsWith('.tar.gz') && !n.startsWith('backup_latest'))).toHaveLength(1);
  });
});
