import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { archiveCompression } from '../../src/config/compression.js';
import { Redactor, urlWithoutPassword } from '../../src/config/redact.js';
import { expandString } from '../../src/config/expand.js';
import { FerryError } from '../../src/errors/index.js';
import { tempDir } from '../support/tmp.js';

describe('configuration', () => {
  it('expands ${VAR} and ${VAR:-default} inside values, never the YAML structure', () => {
    expect(expandString('${A}/${B:-fallback}/$${A}', { A: 'x' })).toBe('x/fallback/${A}');
    expect(expandString('${EMPTY:-d}', { EMPTY: '' })).toBe('d');
  });

  it('reads the legacy environment variable names without a file', async () => {
    const cwd = await tempDir();
    const { config, file } = await loadConfig({ cwd, env: { DATABASE_URL: 'postgresql://app:pw@db/le', UPLOADS_DIR: 'up', BACKUP_DIRECTORY: '/b', BACKUP_RETENTION_DAYS: '3' } });
    expect(file).toBeUndefined();
    expect(config.postgres?.url).toBe('postgresql://app:pw@db/le');
    expect(config.uploads?.path).toBe(join(cwd, 'up'));
    expect(config.backup).toMatchObject({ directory: '/b', retention_days: 3, compression: 'gzip' });
    expect(archiveCompression(config.backup)).toEqual({ codec: 'gzip', level: 1 });
  });

  it('lets the environment override the file, and resolves paths against the file', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'ferry.config.yaml'), 'backup:\n  directory: ${BACKUP_HOME:-./backups}\n  retention_days: 14\nuploads:\n  path: ./uploads\n');
    const { config } = await loadConfig({ cwd: dir, env: { BACKUP_RETENTION_DAYS: '2', FERRY_BACKUP_COMPRESSION_LEVEL: '1' } });
    expect(config.backup).toMatchObject({ directory: join(dir, 'backups'), retention_days: 2, compression_level: 1 });
    expect(config.uploads?.path).toBe(join(dir, 'uploads'));
  });

  it('names the environment variable when an invalid value came from it', async () => {
    const cwd = await tempDir();
    const error = await loadConfig({ cwd, env: { BACKUP_RETENTION_DAYS: 'seven' } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FerryError);
    expect((error as FerryError).message).toMatch(/^environment variable BACKUP_RETENTION_DAYS: backup\.retention_days: /);
    expect((error as FerryError).exitCode).toBe(3);
  });

  it('warns when a file holding a password is readable by others', async () => {
    const dir = await tempDir();
    const file = join(dir, 'ferry.config.yaml');
    await writeFile(file, 'postgres:\n  url: postgresql://app:hunter22@db/le\n');
    await chmod(file, 0o644);
    expect((await loadConfig({ cwd: dir, env: {} })).warnings[0]).toMatch(/can be read by other users; run chmod 600/);
    await chmod(file, 0o600);
    expect((await loadConfig({ cwd: dir, env: {} })).warnings).toEqual([]);
  });

  it('redacts known secrets, their URL-encoded form, and any URL password', () => {
    const r = new Redactor(['p@ss/word']);
    expect(r.redact('connect postgresql://u:p%40ss%2Fword@h/db failed; p@ss/word')).toBe('connect postgresql://u:***@h/db failed; ***');
    expect(new Redactor().redact('mongodb://a:b@host/x and postgres://c:d@e')).toBe('mongodb://a:***@host/x and postgres://c:***@e');
    expect(urlWithoutPassword('postgresql://u:secret@h:5433/db?sslmode=require')).toBe('postgresql://u@h:5433/db?sslmode=require');
  });
});

describe('the shipped example configuration', () => {
  it('loads with the production variables set', async () => {
    const { fileURLToPath } = await import('node:url');
    const file = fileURLToPath(new URL('../../examples/ferry.config.yaml', import.meta.url));
    const { config } = await loadConfig({ file, env: { DATABASE_URL: 'postgresql://legrimoire:pw@db:5432/legrimoire' } });
    expect(config.backup.retention_days).toBe(7);
    expect(config.postgres?.url).toBe('postgresql://legrimoire:pw@db:5432/legrimoire');
    expect(config.uploads?.path).toMatch(/backend\/uploads$/);
    expect(config.mongodb).toMatchObject({ url: 'mongodb://mongodb:27017', database: 'legrimoire', export_collections: ['recipes', 'ingredients'] });
  });
});

describe('the Le Grimoire example', () => {
  it('loads, with the declared indexes and the container exec', async () => {
    const { fileURLToPath } = await import('node:url');
    const file = fileURLToPath(new URL('../../examples/le-grimoire/ferry.config.yaml', import.meta.url));
    const { config } = await loadConfig({ file, env: {} });
    expect(config.postgres?.exec).toBe('compose://db');
    expect(config.mongodb?.required_collections).toEqual(['recipes', 'ingredients', 'categories']);
    expect(config.mongodb?.indexes.ingredients?.[0]).toEqual({ key: { off_id: 1 }, unique: true, name: 'off_id_unique' });
    expect(Object.keys(config.mongodb?.indexes ?? {})).toEqual(['ingredients', 'categories', 'recipes', 'ai_extraction_logs', 'wines', 'liquors']);
    expect(Object.keys(config.mask?.postgres.users ?? {})).toEqual(['email', 'name', 'username', 'password_hash', 'avatar_url', 'oauth_provider_id']);
    expect(config.mask?.mongodb.ai_extraction_logs).toEqual({ user_email: 'email' });
  });
});
