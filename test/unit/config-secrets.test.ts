import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expandString } from '../../src/config/expand.js';
import { loadConfig } from '../../src/config/load.js';
import { Redactor } from '../../src/config/redact.js';
import { tempDir } from '../support/tmp.js';

describe('$$ is a literal $ inside ${VAR:-default} too (issue 24 item 4)', () => {
  it('as configuration.md documents it', async () => {
    expect(expandString('${BD:-/srv/bk$$x}', {})).toBe('/srv/bk$x');
    expect(expandString('${BD:-/srv/bk$$x}', { BD: '/given$$' })).toBe('/given$$');
    const dir = await tempDir();
    await writeFile(join(dir, 'ferry.config.yaml'), 'backup:\n  directory: ${BD:-./bk$$x}\n');
    expect((await loadConfig({ cwd: dir, env: {} })).config.backup.directory).toBe(join(dir, 'bk$x'));
  });
});

describe('the "config file holds a password" warning reads the file, not the environment (item 5)', () => {
  async function warningsFor(yaml: string, env: Record<string, string>): Promise<string[]> {
    const dir = await tempDir();
    const file = join(dir, 'ferry.config.yaml');
    await writeFile(file, yaml);
    await chmod(file, 0o644);
    return (await loadConfig({ cwd: dir, env })).warnings;
  }

  it('does not warn for ${VAR} references, nor for a password that comes from the environment', async () => {
    expect(await warningsFor('mongodb:\n  url: mongodb://127.0.0.1:27017/le\n  user: app\n  password: ${MONGODB_PW}\n', { MONGODB_PW: 'hunter22', MONGODB_PASSWORD: 'hunter22' })).toEqual([]);
    expect(await warningsFor('postgres:\n  url: postgresql://app:${PGPW}@db/le\n', { PGPW: 'hunter22' })).toEqual([]);
    // docs/compose.md's URL: the colon inside the user's ${VAR:-default} is not where the password starts.
    expect(await warningsFor('postgres:\n  url: postgresql://${POSTGRES_USER:-grimoire}:${POSTGRES_PASSWORD}@localhost/le_grimoire\n', { POSTGRES_PASSWORD: 'hunter22' })).toEqual([]);
    expect(await warningsFor('uploads:\n  path: ./u\n', { DATABASE_URL: 'postgresql://app:hunter22@db/le', MONGODB_URL: 'mongodb://h/le', MONGODB_PASSWORD: 'x' })).toEqual([]);
  });

  it('warns for a password written in the file, also as a ${VAR:-default}', async () => {
    for (const yaml of ['postgres:\n  url: postgresql://app:hunter22@db/le\n', 'mongodb:\n  url: mongodb://h/le\n  password: ${PW:-dev}\n', 'mongodb:\n  url: mongodb://a:b@h/le\n', 'postgres:\n  url: postgresql://${U:-app}:${PW:-dev}@db/le\n']) {
      const warnings = await warningsFor(yaml, {});
      expect(warnings, yaml).toHaveLength(1);
      expect(warnings[0]).toMatch(/holds a password and can be read by other users; run chmod 600/);
    }
  });
});

describe('the redactor masks secrets where they appear without mangling other words (item 6)', () => {
  const r = new Redactor(['regress']);

  it('leaves words and paths that merely contain the password', () => {
    const text = 'wrote /srv/regression/backups/x.tar.gz and /tmp/ci/regress/backups; regressions: 0';
    expect(r.redact(text)).toBe(text);
  });

  it('masks it in URLs, after secret keys, in child argv/env and as a word, however short', () => {
    expect(r.redact('postgresql://app:regress@db/le')).toBe('postgresql://app:***@db/le');
    expect(r.redact('PGPASSWORD=regress pg_dump -W regress')).toBe('PGPASSWORD=*** pg_dump -W ***');
    expect(r.redact('{"password": "regress"} password: regress, \'regress\'')).toBe('{"password": "***"} password: ***, \'***\'');
    expect(r.redact('authentication failed for app:regress@db. The password is regress.')).toBe('authentication failed for app:***@db. The password is ***.');
    const short = new Redactor(['pw']);
    expect(short.redact('password=pw, then pw and (pw) but not pwd or /x/pw/y')).toBe('password=***, then *** and (***) but not pwd or /x/pw/y');
    // An encrypted archive's manifest in --json stays JSON: a flag is not a secret, a number may be.
    expect(r.redact('{"passphrase": false, "token": null, "pin_password": 1234, "n": 1}')).toBe('{"passphrase": false, "token": null, "pin_password": ***, "n": 1}');
  });

  it('masks a long secret anywhere, and the URL-encoded form too', () => {
    const long = new Redactor(['Zq8xT2mK9vLp4w', 'p@ss w/rd']);
    expect(long.redact('/hooks/Zq8xT2mK9vLp4wAB and p%40ss%20w%2Frd and p@ss w/rd')).toBe('/hooks/***AB and *** and ***');
  });
});

describe('environment-only mode exports what the scripts exported (issue 24 item 7)', () => {
  it('defaults mongodb.export_collections to recipes and ingredients, and says so', async () => {
    const cwd = await tempDir();
    const loaded = await loadConfig({ cwd, env: { MONGODB_URL: 'mongodb://127.0.0.1:27017/legrimoire' } });
    expect(loaded.config.mongodb?.export_collections).toEqual(['recipes', 'ingredients']);
    expect(loaded.notes).toEqual([expect.stringMatching(/^environment-only mode: exporting recipes and ingredients as JSON/)]);
  });

  it('unless configured otherwise: the variable (empty for none), or a config file', async () => {
    const cwd = await tempDir();
    const url = 'mongodb://127.0.0.1:27017/legrimoire';
    expect((await loadConfig({ cwd, env: { MONGODB_URL: url, FERRY_MONGODB_EXPORT_COLLECTIONS: '' } })).config.mongodb?.export_collections).toEqual([]);
    expect((await loadConfig({ cwd, env: { MONGODB_URL: url, FERRY_MONGODB_EXPORT_COLLECTIONS: 'users' } })).config.mongodb?.export_collections).toEqual(['users']);
    expect((await loadConfig({ cwd, env: {} })).notes).toEqual([]);
    await writeFile(join(cwd, 'ferry.config.yaml'), `mongodb:\n  url: ${url}\n`);
    const fromFile = await loadConfig({ cwd, env: {} });
    expect(fromFile.config.mongodb?.export_collections).toEqual([]);
    expect(fromFile.notes).toEqual([]);
  });
});
