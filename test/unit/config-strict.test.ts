import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { postgresUrlProblem } from '../../src/config/connection-url.js';
import { FerryError } from '../../src/errors/index.js';
import { tempDir } from '../support/tmp.js';

async function failure(yaml: string | undefined, env: Record<string, string> = {}): Promise<FerryError> {
  const cwd = await tempDir();
  if (yaml !== undefined) await writeFile(join(cwd, 'ferry.config.yaml'), yaml);
  const error = await loadConfig({ cwd, env }).then(() => undefined, (e: unknown) => e);
  expect(error, 'the configuration was accepted').toBeInstanceOf(FerryError);
  return error as FerryError;
}

describe('configuration is strict at every level', () => {
  it.each([
    ['backup:\n  retention_dayz: 60\n', 'unknown key backup.retention_dayz, did you mean retention_days'],
    ['postgres:\n  urll: postgresql://a@b/c\n  url: postgresql://a@b/c\n', 'unknown key postgres.urll, did you mean url'],
    ['uploads:\n  path: ./u\n  strikt: true\n', 'unknown key uploads.strikt, did you mean strict'],
    ['mongodb:\n  url: mongodb://h/db\n  colections: [a]\n', 'unknown key mongodb.colections, did you mean collections'],
    ['notify:\n  on_failure:\n    webhok: https://x.invalid/\n', 'unknown key notify.on_failure.webhok, did you mean webhook'],
    ['backup:\n  encryption:\n    recipient: [age1x]\n', 'unknown key backup.encryption.recipient, did you mean recipients'],
    ['storage:\n  remote: s3://bucket\n  regoin: eu\n', 'unknown key storage.regoin, did you mean region'],
    ['restore:\n  stratgy: swap\n', 'unknown key restore.stratgy, did you mean strategy'],
    ['postgress:\n  url: postgresql://a@b/c\n', 'unknown key postgress, did you mean postgres'],
    ['backup:\n  zzz: 1\n', 'unknown key backup.zzz'],
  ])('%j', async (yaml, message) => {
    const error = await failure(yaml);
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.exitCode).toBe(3);
    expect(error.message).toContain(message);
    if (!message.includes('did you mean')) expect(error.message).not.toContain('did you mean');
  });

  it.each(['0x10', '1e1', '10.0', '-1', '7 days', ''])('BACKUP_RETENTION_DAYS=%j is refused unless it is plain decimal digits', async (value) => {
    if (value === '') return expect((await loadConfig({ cwd: await tempDir(), env: { BACKUP_RETENTION_DAYS: value } })).config.backup.retention_days).toBe(7);
    const error = await failure(undefined, { BACKUP_RETENTION_DAYS: value });
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toMatch(/^environment variable BACKUP_RETENTION_DAYS: backup\.retention_days: /);
  });

  it('a whole number out of its range says the range, not that it is no number', async () => {
    const zero = await failure(undefined, { FERRY_UPLOADS_FULL_EVERY: '0' });
    expect(zero.message).toBe('environment variable FERRY_UPLOADS_FULL_EVERY: uploads.full_every: expected at least 1, got 0');
    const big = await failure(undefined, { FERRY_UPLOADS_FULL_EVERY: '1001' });
    expect(big.message).toBe('environment variable FERRY_UPLOADS_FULL_EVERY: uploads.full_every: expected at most 1000, got 1001');
  });

  it.each(['flase', 'maybe', 'enabled'])('FERRY_UPLOADS_INCREMENTAL=%j is refused, never read as true', async (value) => {
    const error = await failure(undefined, { UPLOADS_DIR: '/srv/uploads', FERRY_UPLOADS_INCREMENTAL: value });
    expect(error.message).toBe('environment variable FERRY_UPLOADS_INCREMENTAL: uploads.incremental: expected true or false (yes/no, on/off, 1/0)');
  });

  it('reads the usual words for on and off', async () => {
    for (const [value, read] of [['YES', true], ['on', true], ['1', true], ['true', true], ['Off', false], ['no', false], ['0', false], ['false', false]] as const) {
      expect((await loadConfig({ cwd: await tempDir(), env: { UPLOADS_DIR: '/srv/uploads', FERRY_UPLOADS_INCREMENTAL: value } })).config.uploads?.incremental).toBe(read);
    }
  });

  it('accepts plain decimal digits, with spaces around them', async () => {
    const { config } = await loadConfig({ cwd: await tempDir(), env: { BACKUP_RETENTION_DAYS: ' 016 ', FERRY_BACKUP_KEEP_LAST: '3' } });
    expect(config.backup).toMatchObject({ retention_days: 16, keep_last: 3 });
  });
});

describe('DATABASE_URL is checked, naming the wrong part and never the password', () => {
  it.each([
    ['postgresql://app:s3cretdb.example:5432/le', /port is not a number \(is the @ between user:password and the host missing\?\)/],
    ['postgresql://app:s3cret@db:99999/le', /port 99999 is out of range 1-65535/],
    ['postgresql://app:s3c#ret@db:5432/le', /# that is not percent-encoded; write # as %23/],
    ['postgresql://app:s3c@ret@db:5432/le', /more than one @ before the host; write an @ .* as %40/],
    ['mysql://app:s3cret@db:3306/le', /the scheme mysql:\/\/ is not PostgreSQL/],
    ['db.example:5432/le', /expected a URL such as postgresql:\/\//],
    ['postgresql:db/le', /expected \/\/ after postgresql:/],
    ['postgresql://app:s3c%zzret@db/le', /a % that does not start a percent-encoding/],
  ])('%s', async (url, problem) => {
    const error = await failure(undefined, { DATABASE_URL: url });
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.exitCode).toBe(3);
    expect(error.message).toMatch(/^environment variable DATABASE_URL: postgres\.url: /);
    expect(error.message).toMatch(problem);
    expect(error.message).not.toMatch(/s3c/);
  });

  it.each([
    'postgresql://app:s3cret@db.example:5432/le',
    'postgres://app@127.0.0.1/le?sslmode=require',
    'postgresql:///le?host=/var/run/postgresql',
    'postgresql://app:p%40ss%23word@[::1]:5432/le',
    'postgresql://app:pw@db1:5432,db2:5433/le?target_session_attrs=read-write',
    'postgresql://localhost',
  ])('accepts %s', (url) => {
    expect(postgresUrlProblem(url)).toBeUndefined();
  });
});

describe('MONGODB_URL is checked before the driver sees it', () => {
  it.each([
    ['mysql://h/db', /the scheme mysql:\/\/ is not MongoDB/],
    ['mongodb://app:s3c@ret@h/db', /more than one @/],
    ['mongodb://h:99999/db', /port 99999 is out of range/],
    ['mongodb+srv://h:27017/db', /mongodb\+srv:\/\/ URL names exactly one host, without a port/],
    ['mongodb:///db', /names no host/],
    ['mongodb://h/db?replicaSet=', /option replicaSet has no value/],
  ])('%s', async (url, problem) => {
    const error = await failure(undefined, { MONGODB_URL: url });
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toMatch(/^environment variable MONGODB_URL: mongodb\.url: /);
    expect(error.message).toMatch(problem);
    expect(error.message).not.toMatch(/s3c/);
  });
});
