import { createServer, type IncomingMessage } from 'node:http';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/demo/throwaway-postgres.js';
import { ferry } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';

const received: Array<{ url: string; body: Record<string, unknown> }> = [];
const server = createServer((request: IncomingMessage, response) => {
  let body = '';
  request.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => {
    received.push({ url: request.url ?? '', body: JSON.parse(body) as Record<string, unknown> });
    if (request.url?.includes('slow')) return;
    response.writeHead(request.url?.includes('broken') ? 500 : 204).end();
  });
});
let base = '';
beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  base = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

async function setUp(notify: string | ((dir: string) => string)): Promise<{ dir: string; config: string }> {
  const dir = await tempDir();
  const notifyText = typeof notify === 'string' ? notify : notify(dir);
  mkdirSync(join(dir, 'uploads'));
  writeFileSync(join(dir, 'uploads', 'a.jpg'), 'x'.repeat(2000));
  const config = join(dir, 'ferry.config.yaml');
  writeFileSync(config, `backup:\n  directory: ${join(dir, 'backups')}\nuploads:\n  path: ${join(dir, 'uploads')}\nnotify:\n${notifyText}`);
  return { dir, config };
}

describe('notifications', () => {
  it('posts the outcome to a webhook and runs a command hook, on success and on failure', async () => {
    const { dir, config } = await setUp((dir) => [
      '  timeout_seconds: 5',
      '  on_success:',
      `    webhook: ${base}/hooks/token-secret-123/ok`,
      `    exec: [${join(dir, 'hook.sh')}, success]`,
      '  on_failure:',
      `    webhook: ${base}/hooks/failed`,
      '',
    ].join('\n'));
    writeFileSync(join(dir, 'hook.sh'), `#!/bin/sh\ncat > ${join(dir, 'hook-body.json')}\necho "$1 $FERRY_OUTCOME" > ${join(dir, 'hook-args.txt')}\n`);
    chmodSync(join(dir, 'hook.sh'), 0o755);
    const ok = await ferry(['backup', '--config', config], {});
    expect(ok.code, ok.stderr).toBe(0);
    const success = received.find((r) => r.url === '/hooks/token-secret-123/ok');
    expect(success?.body).toMatchObject({ command: 'backup', outcome: 'success', stores: { uploads: { items: 1, bytes: 2000 } } });
    expect(String(success?.body.archive)).toMatch(/backup_\d{8}_\d{6}\.tar\.gz$/);
    expect(JSON.parse(readFileSync(join(dir, 'hook-body.json'), 'utf8'))).toMatchObject({ outcome: 'success' });
    expect(readFileSync(join(dir, 'hook-args.txt'), 'utf8').trim()).toBe('success success');

    writeFileSync(config, readFileSync(config, 'utf8').replace(join(dir, 'uploads'), join(dir, 'missing')));
    const failed = await ferry(['backup', '--config', config], {});
    expect(failed.code).toBe(1);
    expect(received.find((r) => r.url === '/hooks/failed')?.body).toMatchObject({ command: 'backup', outcome: 'failure', error: { code: 'UPLOADS_MISSING', exitCode: 1 } });
    expect(ok.stderr + failed.stderr).not.toContain('token-secret-123');
  });

  it('a failing or hanging notification is logged and never fails the backup', async () => {
    const port = await freePort();
    const { config } = await setUp([
      '  timeout_seconds: 1',
      '  on_success:',
      `    webhook: http://127.0.0.1:${port}/nobody-listens`,
      '    exec: [/nonexistent/notify-command]',
      '',
    ].join('\n'));
    const refused = await ferry(['backup', '--config', config], {});
    expect(refused.code, refused.stderr).toBe(0);
    expect(refused.stderr).toMatch(/warning: notification webhook failed: ECONNREFUSED; the run's outcome is unchanged/);
    expect(refused.stderr).toMatch(/warning: notification command \/nonexistent\/notify-command could not start/);

    const slow = await setUp(['  timeout_seconds: 1', '  on_success:', `    webhook: ${base}/slow`, ''].join('\n'));
    const started = Date.now();
    const hung = await ferry(['backup', '--config', slow.config], {});
    expect(hung.code, hung.stderr).toBe(0);
    expect(hung.stderr).toMatch(/notification webhook failed: no answer within 1 s/);
    expect(Date.now() - started).toBeLessThan(30_000);
  });
});

describe('--log-format json', () => {
  it('logs start, each store with duration and size, and the outcome as JSON lines, without secrets', async () => {
    const { config } = await setUp('  timeout_seconds: 2\n');
    const result = await ferry(['backup', '--config', config, '--log-format', 'json'], { DATABASE_URL: undefined });
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stderr.trim().split('\n').map((l) => JSON.parse(l) as { level: string; msg: string; time: string });
    expect(lines.every((l) => typeof l.time === 'string' && typeof l.level === 'string')).toBe(true);
    expect(lines[0]?.msg).toMatch(/^backup started: uploads /);
    expect(lines.some((l) => /^uploads: \d+ objects, 2\.0 KB in \d+\.\d s$/.test(l.msg))).toBe(true);
    expect(lines.at(-1)?.msg).toMatch(/^backup succeeded: .*backup_\d+_\d+\.tar\.gz, .* in /);
    const failed = await ferry(['backup', '--log-format', 'json'], { DATABASE_URL: 'postgresql://app:hunter2@127.0.0.1:1/x', BACKUP_DIRECTORY: join(config, '..', 'b2') });
    const last = JSON.parse(failed.stderr.trim().split('\n').at(-1) ?? '{}') as { level: string; code: string; msg: string };
    expect(last).toMatchObject({ level: 'error', code: 'PG_CONNECT' });
    expect(failed.stderr).not.toContain('hunter2');
    expect(existsSync(join(config, '..', 'b2'))).toBe(true);
  });
});
