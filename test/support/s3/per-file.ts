import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { S3TestServer } from './server.js';

/**
 * One S3 test server for the enclosing test file (or describe block): started before its tests,
 * stopped and its folder removed after them.
 */
export function s3ServerForTests(credentials?: Record<string, string>): S3TestServer {
  const root = mkdtempSync(join(tmpdir(), 'ferry-s3-'));
  const server = new S3TestServer(root, credentials);
  beforeAll(async () => {
    await server.start();
  });
  afterAll(async () => {
    await server.stop();
    rmSync(root, { recursive: true, force: true });
  });
  return server;
}
