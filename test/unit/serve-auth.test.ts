import { describe, expect, it } from 'vitest';
import { checkPassword, hashPassword, isPasswordHash } from '../../src/serve/auth.js';
import { openContext } from '../../src/ops/open.js';
import { dashboardApp, isLoopback, parseListen } from '../../src/serve/server.js';
import { tempDir } from '../support/tmp.js';

describe('ferry serve: addresses and passwords', () => {
  it('reads host:port and [v6]:port, and refuses anything else as a usage error', () => {
    expect(parseListen('127.0.0.1:8086')).toEqual({ host: '127.0.0.1', port: 8086 });
    expect(parseListen('[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(parseListen('dashboard.internal:80')).toEqual({ host: 'dashboard.internal', port: 80 });
    for (const bad of ['8086', '127.0.0.1', '127.0.0.1:70000', '::1:8086', 'host:port']) {
      expect(() => parseListen(bad), bad).toThrow(expect.objectContaining({ code: 'USAGE', exitCode: 3 }));
    }
  });

  it('counts only loopback addresses as loopback', () => {
    for (const host of ['127.0.0.1', '127.8.9.1', '::1', 'localhost']) expect(isLoopback(host), host).toBe(true);
    for (const host of ['0.0.0.0', '::', '192.168.1.10', 'localhost.example.com', '127.0.0.1.nip.io']) expect(isLoopback(host), host).toBe(false);
  });

  it('checks a password against its scrypt hash, and only that password', async () => {
    const hash = await hashPassword('correct horse battery');
    expect(isPasswordHash(hash)).toBe(true);
    expect(hash).not.toContain('correct');
    expect(await checkPassword('correct horse battery', hash)).toBe(true);
    expect(await checkPassword('correct horse batterY', hash)).toBe(false);
    expect(await hashPassword('correct horse battery')).not.toBe(hash);
    expect(isPasswordHash('correct horse battery')).toBe(false);
  });
});

describe('ferry serve without authentication', () => {
  it('answers only to loopback names, so a rebound DNS name cannot read it through a browser', async () => {
    const previous = process.env.BACKUP_DIRECTORY;
    process.env.BACKUP_DIRECTORY = await tempDir();
    try {
      const { ctx } = await openContext({});
      const app = dashboardApp(ctx, { auth: { kind: 'none' }, allowActions: true });
      for (const host of ['127.0.0.1:8086', 'localhost:8086', '[::1]:8086']) expect((await app.request('/api/list', { headers: { host } })).status, host).toBe(200);
      const rebound = await app.request('/api/list', { headers: { host: 'attacker.example:8086' } });
      expect(rebound.status).toBe(403);
      expect(await rebound.text()).toMatch(/^forbidden: without authentication only/);
      // No session without authentication, so no action either, allow_actions or not.
      expect((await app.request('/backups/x/verify', { method: 'POST', headers: { host: '127.0.0.1:8086' } })).status).toBe(403);
    } finally {
      if (previous === undefined) delete process.env.BACKUP_DIRECTORY;
      else process.env.BACKUP_DIRECTORY = previous;
    }
  });
});
