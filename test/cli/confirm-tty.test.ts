import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cleanEnv, ferry, FERRY_BIN } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';
import { missing } from '../support/needs.js';

/** Runs ferry on a pseudo-terminal (util-linux `script`), typing `answer` once the prompt is up. */
function onTerminal(args: string[], env: Record<string, string>, answer: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolveRun) => {
    const command = [process.execPath, FERRY_BIN, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
    const child = spawn('script', ['-qec', command, '/dev/null'], { env: cleanEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
      if (output.includes('[y/N]') && !child.stdin.writableEnded) child.stdin.end(`${answer}\n`);
    });
    child.on('close', (code) => resolveRun({ code, output }));
  });
}

describe.skipIf(missing('script (Debian package bsdutils)', spawnSync('script', ['--version']).status === 0))('confirmation on a terminal', () => {
  it('shows the plan and restores only after yes', async () => {
    const work = await tempDir();
    mkdirSync(join(work, 'up'));
    writeFileSync(join(work, 'up', 'photo.jpg'), 'from production');
    const backups = join(work, 'b');
    expect((await ferry(['backup'], { UPLOADS_DIR: join(work, 'up'), BACKUP_DIRECTORY: backups })).code).toBe(0);
    const env = { UPLOADS_DIR: join(work, 'dev'), BACKUP_DIRECTORY: backups };

    const declined = await onTerminal(['restore', 'latest'], env, 'n');
    expect(declined.code).toBe(4);
    expect(declined.output).toMatch(/uploads: uploads .*\/up -> .*\/dev \(does not exist yet: will be created\)/);
    expect(declined.output).toMatch(/ferry: restore cancelled; nothing was changed/);
    expect(existsSync(join(work, 'dev'))).toBe(false);

    const accepted = await onTerminal(['restore', 'latest'], env, 'yes');
    expect(accepted.code, accepted.output).toBe(0);
    expect(readFileSync(join(work, 'dev', 'photo.jpg'), 'utf8')).toBe('from production');
  });
});
