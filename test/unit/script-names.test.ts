import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseEnvText } from '../../src/config/env-file.js';
import { loadConfig } from '../../src/config/load.js';
import { FerryError } from '../../src/errors/index.js';
import { tempDir } from '../support/tmp.js';

describe('the Le Grimoire scripts\' variable names', () => {
  it('BACKUP_DIR sets backup.directory, below BACKUP_DIRECTORY, FERRY_BACKUP_DIRECTORY and the file', async () => {
    const cwd = await tempDir();
    expect((await loadConfig({ cwd, env: { BACKUP_DIR: '/srv/b' } })).config.backup.directory).toBe('/srv/b');
    expect((await loadConfig({ cwd, env: { BACKUP_DIR: '/srv/b', BACKUP_DIRECTORY: '/srv/ferry' } })).config.backup.directory).toBe('/srv/ferry');
    expect((await loadConfig({ cwd, env: { BACKUP_DIR: '/srv/b', FERRY_BACKUP_DIRECTORY: '/srv/f' } })).config.backup.directory).toBe('/srv/f');
    await writeFile(join(cwd, 'ferry.config.yaml'), 'backup:\n  directory: /srv/from-file\n');
    expect((await loadConfig({ cwd, env: { BACKUP_DIR: '/srv/b' } })).config.backup.directory).toBe('/srv/from-file');
  });

  it('POSTGRES_CONTAINER with POSTGRES_USER/DB/PASSWORD: the tools run in that container, the URL is for inside it', async () => {
    const cwd = await tempDir();
    const env = { POSTGRES_CONTAINER: 'le-grimoire-db-prod', POSTGRES_USER: 'grimoire', POSTGRES_DB: 'le_grimoire', POSTGRES_PASSWORD: 'p@ss word' };
    const loaded = await loadConfig({ cwd, env });
    expect(loaded.config.postgres).toMatchObject({ url: 'postgresql://grimoire:p%40ss%20word@localhost/le_grimoire', exec: 'docker://le-grimoire-db-prod' });
    expect(loaded.redactor.redact('password p@ss word')).not.toContain('p@ss word');
    // The scripts' defaults when only the container is named.
    expect((await loadConfig({ cwd, env: { POSTGRES_CONTAINER: 'db1' } })).config.postgres?.url).toBe('postgresql://grimoire@localhost/le_grimoire');
    // DATABASE_URL wins; the container variable then does not change how it is reached.
    const direct = await loadConfig({ cwd, env: { ...env, DATABASE_URL: 'postgresql://app@db.internal/app' } });
    expect(direct.config.postgres).toEqual(expect.objectContaining({ url: 'postgresql://app@db.internal/app' }));
    expect(direct.config.postgres?.exec).toBeUndefined();
    // Ferry's own exec name wins over the container name, and still gets the scripts' URL.
    const compose = await loadConfig({ cwd, env: { ...env, FERRY_POSTGRES_EXEC: 'compose://db' } });
    expect(compose.config.postgres).toMatchObject({ exec: 'compose://db', url: 'postgresql://grimoire:p%40ss%20word@localhost/le_grimoire' });
  });

  it('POSTGRES_USER without a container or DATABASE_URL is a warning, not a silently skipped store', async () => {
    const cwd = await tempDir();
    const loaded = await loadConfig({ cwd, env: { POSTGRES_USER: 'grimoire', POSTGRES_PASSWORD: 'secret-pw' } });
    expect(loaded.config.postgres).toBeUndefined();
    expect(loaded.warnings).toEqual(['POSTGRES_USER, POSTGRES_PASSWORD are set but PostgreSQL is not backed up: set DATABASE_URL, or POSTGRES_CONTAINER (the scripts used le-grimoire-db-prod) to run the tools inside that container']);
  });

  it('MONGODB_CONTAINER and BACKEND_CONTAINER set mongodb.exec and uploads.exec, below Ferry\'s own names', async () => {
    const cwd = await tempDir();
    const containers = { MONGODB_CONTAINER: 'le-grimoire-mongodb-prod', BACKEND_CONTAINER: 'le-grimoire-backend-prod' };
    const loaded = await loadConfig({ cwd, env: { ...containers, MONGODB_URL: 'mongodb://localhost:27017/legrimoire' } });
    expect(loaded.warnings).toEqual([]);
    expect(loaded.config.mongodb).toMatchObject({ url: 'mongodb://localhost:27017/legrimoire', exec: 'docker://le-grimoire-mongodb-prod' });
    expect(loaded.config.uploads).toMatchObject({ exec: 'docker://le-grimoire-backend-prod:/app/uploads' });
    expect(loaded.config.uploads?.path).toBeUndefined();
    // The scripts' own .env.production: the container, the user and the password, no URL.
    const scripts = await loadConfig({ cwd, env: { ...containers, MONGODB_USER: 'legrimoire', MONGODB_PASSWORD: 'pw' } });
    expect(scripts.config.mongodb).toMatchObject({ url: 'mongodb://localhost:27017/legrimoire', user: 'legrimoire', exec: 'docker://le-grimoire-mongodb-prod' });
    // Ferry's names win: an exec of its own, a local uploads folder.
    const own = await loadConfig({ cwd, env: { ...containers, FERRY_MONGODB_EXEC: 'compose://mongodb', UPLOADS_DIR: '/srv/uploads', MONGODB_URL: 'mongodb://localhost/legrimoire' } });
    expect(own.config.mongodb?.exec).toBe('compose://mongodb');
    expect(own.config.uploads).toMatchObject({ path: '/srv/uploads' });
    expect(own.config.uploads?.exec).toBeUndefined();
  });

  it('an invalid container name is reported against the variable that set it', async () => {
    const cwd = await tempDir();
    const error = await loadConfig({ cwd, env: { POSTGRES_CONTAINER: 'no such/container' } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FerryError);
    expect((error as FerryError).message).toMatch(/^environment variable POSTGRES_CONTAINER: postgres\.exec: expected docker:\/\/<container>/);
  });

  it('a URL the config file sets is reported against the file, not the scripts\' names it leaves unused', async () => {
    const cwd = await tempDir();
    // docs/compose.md's URL, with a password that needs percent-encoding (openssl rand -base64 writes "/").
    await writeFile(join(cwd, 'ferry.config.yaml'), 'postgres:\n  url: postgresql://${POSTGRES_USER:-grimoire}:${POSTGRES_PASSWORD}@localhost/le_grimoire\n');
    const error = await loadConfig({ cwd, env: { POSTGRES_USER: 'grimoire', POSTGRES_PASSWORD: 'k9Zr/8Qa' } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FerryError);
    expect((error as FerryError).message).toMatch(new RegExp(`^${join(cwd, 'ferry.config.yaml')}: postgres\\.url: `));
    expect((error as FerryError).message).not.toContain('k9Zr');
    const overridden = await loadConfig({ cwd, env: { POSTGRES_PASSWORD: 'x', DATABASE_URL: 'mysql://db' } }).catch((e: unknown) => e);
    expect((overridden as FerryError).message).toMatch(/^environment variable DATABASE_URL: postgres\.url: /);
  });
});

describe('--env-file', () => {
  it('reads NAME=value lines as the scripts\' files have them: comments, export, quotes', () => {
    const parsed = parseEnvText([
      '# Production',
      'BACKUP_RETENTION_DAYS=7',
      'export MONGODB_USER=legrimoire',
      'MONGODB_PASSWORD="with # hash and \\"quote\\""',
      "POSTGRES_PASSWORD='single $quoted'",
      'BACKUP_DIRECTORY=/home/legrimoire/apps/le-grimoire/backups # trailing comment',
      'EMPTY=',
      '',
    ].join('\n'), '.env');
    expect(parsed).toEqual({
      BACKUP_RETENTION_DAYS: '7',
      MONGODB_USER: 'legrimoire',
      MONGODB_PASSWORD: 'with # hash and "quote"',
      POSTGRES_PASSWORD: 'single $quoted',
      BACKUP_DIRECTORY: '/home/legrimoire/apps/le-grimoire/backups',
      EMPTY: '',
    });
  });

  it('a malformed line names the file and line, never the value', () => {
    const error = (() => {
      try {
        parseEnvText('OK=1\nthis is s3cr3t-value\n', '/srv/.env');
      } catch (e) {
        return e as FerryError;
      }
      return undefined;
    })();
    expect(error?.message).toBe('/srv/.env:2: expected NAME=value');
    const unclosed = (() => {
      try {
        parseEnvText('PW="s3cr3t\n', '/srv/.env');
      } catch (e) {
        return e as FerryError;
      }
      return undefined;
    })();
    expect(unclosed?.message).toBe('/srv/.env:1: PW: the quote is not closed');
  });

  it('loads files before the configuration; later files win, the environment wins over both', async () => {
    const cwd = await tempDir();
    await writeFile(join(cwd, '.env'), 'BACKUP_DIR=/from/env\nBACKUP_RETENTION_DAYS=3\n');
    await writeFile(join(cwd, '.env.production'), 'BACKUP_RETENTION_DAYS=9\nMONGODB_PASSWORD=hunter2-secret\nMONGODB_URL=mongodb://127.0.0.1:1/legrimoire\n');
    const env: NodeJS.ProcessEnv = { BACKUP_DIR: '/already/set' };
    const loaded = await loadConfig({ cwd, env, envFiles: ['.env', '.env.production'] });
    expect(loaded.config.backup).toMatchObject({ directory: '/already/set', retention_days: 9 });
    expect(env.MONGODB_PASSWORD).toBe('hunter2-secret');
    expect(loaded.redactor.redact('auth failed for hunter2-secret')).not.toContain('hunter2-secret');
    const missing = await loadConfig({ cwd, env: {}, envFiles: ['nope.env'] }).catch((e: unknown) => e);
    expect((missing as FerryError).code).toBe('CONFIG_NOT_FOUND');
  });
});
