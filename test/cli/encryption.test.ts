import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ferry } from '../support/cli.js';
import { createDatabase, pgUrl, query, tableDigests, uniqueName } from '../support/pg.js';
import { tempDir } from '../support/tmp.js';
import { missing } from '../support/needs.js';

const hasAge = !missing('the age command (Debian package age)', spawnSync('age', ['--version']).status === 0);
const SECRET_TITLE = 'Soufflé secret de Mamie Odette';

async function encryptedBackup(extra: Record<string, string> = {}) {
  const work = await tempDir();
  const keyFile = join(work, 'keys', 'key.txt');
  const generated = await ferry(['key', 'generate', '--output', keyFile], {});
  expect(generated.code, generated.stderr).toBe(0);
  const recipient = generated.stdout.trim();
  expect(recipient).toMatch(/^age1[0-9a-z]+$/);
  const db = await createDatabase(uniqueName('enc'));
  await query(db, `CREATE TABLE recipes (id int PRIMARY KEY, title text); INSERT INTO recipes VALUES (1, '${SECRET_TITLE}');`);
  mkdirSync(join(work, 'uploads'));
  writeFileSync(join(work, 'uploads', 'carnet-de-mamie-odette.jpg'), 'photo bytes');
  const backups = join(work, 'backups');
  const env = { DATABASE_URL: pgUrl(db), UPLOADS_DIR: join(work, 'uploads'), BACKUP_DIRECTORY: backups, FERRY_BACKUP_ENCRYPTION_RECIPIENTS: recipient, ...extra };
  const made = await ferry(['backup'], env);
  expect(made.code, made.stderr).toBe(0);
  const name = readdirSync(backups).find((n) => n.endsWith('.tar.gz.age'))!;
  return { work, keyFile, recipient, db, backups, env, name, archive: join(backups, name) };
}

describe('encrypted archives (age)', () => {
  it('production writes what only the identity opens; list and health work without it; restore with it', async () => {
    const { work, keyFile, db, backups, name, archive } = await encryptedBackup();
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(archive).subarray(0, 21).toString()).toBe('age-encryption.org/v1');
    // Nothing readable on the server: not in the archive, not in the sidecars.
    for (const file of readdirSync(backups)) {
      const text = readFileSync(join(backups, file)).toString('latin1');
      expect(text, file).not.toContain('Mamie Odette');
      expect(text, file).not.toContain('carnet-de-mamie');
    }
    const sidecar = JSON.parse(readFileSync(`${archive}.manifest.json`, 'utf8')) as { entries: unknown[]; stores: Record<string, { counts: Record<string, number> }>; encryption: { passphrase: boolean } };
    expect(sidecar.entries).toEqual([]);
    expect(sidecar.stores.postgres?.counts).toEqual({ 'public.recipes': 1 });
    expect(sidecar.encryption.passphrase).toBe(false);

    const keyless = { BACKUP_DIRECTORY: backups };
    expect((await ferry(['list'], keyless)).stdout).toMatch(new RegExp(`${name.replace(/\./g, '\\.')}.*postgres,uploads\\s+complete\\s+ok`));
    const health = await ferry(['health'], { ...keyless, DATABASE_URL: pgUrl(db) });
    expect(health.code, health.stdout).toBe(0);
    const noKey = await ferry(['verify', 'latest'], keyless);
    expect(noKey.code).toBe(3);
    expect(noKey.stderr).toMatch(/^ferry: .*\.tar\.gz\.age is encrypted and no key was given$/m);

    const target = uniqueName('enc_dev');
    const restored = await ferry(['restore', 'latest', '--yes', '--identity', keyFile], { DATABASE_URL: pgUrl(target), UPLOADS_DIR: join(work, 'dev-uploads'), BACKUP_DIRECTORY: backups });
    expect(restored.code, restored.stderr).toBe(0);
    expect(await tableDigests(target)).toEqual(await tableDigests(db));
    expect(readFileSync(join(work, 'dev-uploads', 'carnet-de-mamie-odette.jpg'), 'utf8')).toBe('photo bytes');
    expect((await ferry(['verify', 'latest'], { ...keyless, FERRY_AGE_IDENTITY_FILE: keyFile })).code).toBe(0);
    expect((await ferry(['inspect', 'latest', '-i', keyFile], keyless)).stdout).toMatch(/public\.recipes\s+1/);
  });

  it('a wrong identity, a flipped byte and a truncated file: clear errors, target untouched', async () => {
    const { work, backups, archive } = await encryptedBackup();
    const otherKey = join(work, 'other.txt');
    expect((await ferry(['key', 'generate', '-o', otherKey], {})).code).toBe(0);
    const target = await createDatabase(uniqueName('enc_keep'));
    await query(target, "CREATE TABLE keep (v text); INSERT INTO keep VALUES ('mine');");
    const before = await tableDigests(target);
    const env = { DATABASE_URL: pgUrl(target), BACKUP_DIRECTORY: backups, UPLOADS_DIR: join(work, 'dev') };

    const wrong = await ferry(['restore', 'latest', '--yes', '--only', 'postgres', '-i', otherKey], env);
    expect(wrong.code).toBe(3);
    expect(wrong.stderr).toMatch(/^ferry: .*\.tar\.gz\.age: none of the given keys opens it$/m);

    const keyFile = join(work, 'keys', 'key.txt');
    const bytes = readFileSync(archive);
    const flipped = Buffer.from(bytes);
    flipped.writeUInt8(flipped.readUInt8(bytes.length - 40) ^ 1, bytes.length - 40);
    writeFileSync(archive, flipped);
    const tampered = await ferry(['restore', 'latest', '--yes', '--only', 'postgres', '-i', keyFile], env);
    expect(tampered.code).toBe(2);
    expect(tampered.stderr).toMatch(/the encrypted data does not authenticate \(changed or cut short\)/);

    writeFileSync(archive, bytes);
    truncateSync(archive, Math.floor(bytes.length / 2));
    const cut = await ferry(['verify', 'latest', '-i', keyFile], env);
    expect(cut.code).toBe(2);
    expect(await tableDigests(target)).toEqual(before);

    const again = await ferry(['key', 'generate', '-o', keyFile], {});
    expect(again.code).toBe(3);
    expect(again.stderr).toMatch(/already exists; a key is never overwritten/);
  });

  it('passphrase mode from an environment variable; a wrong passphrase is refused', async () => {
    const work = await tempDir();
    const db = await createDatabase(uniqueName('enc_pass'));
    await query(db, 'CREATE TABLE t (v int); INSERT INTO t VALUES (1);');
    writeFileSync(join(work, 'ferry.config.yaml'), 'backup:\n  encryption:\n    passphrase_env: LEGRIMOIRE_BACKUP_PASSPHRASE\n');
    const backups = join(work, 'backups');
    const made = await ferry(['backup', '--config', join(work, 'ferry.config.yaml')], { DATABASE_URL: pgUrl(db), BACKUP_DIRECTORY: backups, LEGRIMOIRE_BACKUP_PASSPHRASE: 'correct horse battery staple' });
    expect(made.code, made.stderr).toBe(0);
    expect(made.stdout + made.stderr).not.toContain('correct horse');
    expect(readdirSync(backups).filter((n) => n.endsWith('.tar.gz.age') && !n.startsWith('backup_latest'))).toHaveLength(1);
    const wrong = await ferry(['verify', 'latest'], { BACKUP_DIRECTORY: backups, FERRY_AGE_PASSPHRASE: 'wrong' });
    expect(wrong.code).toBe(3);
    const right = await ferry(['verify', 'latest'], { BACKUP_DIRECTORY: backups, FERRY_AGE_PASSPHRASE: 'correct horse battery staple' });
    expect(right.code, right.stderr).toBe(0);
  });

  it.skipIf(!hasAge)('interoperates with the age command in both directions', async () => {
    const { work, keyFile, recipient, backups, archive, db } = await encryptedBackup();
    // Ferry's archive decrypts with age to a tar.gz that Ferry verifies and tar opens.
    const clear = join(work, 'clear', 'backup_20250101_000000.tar.gz');
    mkdirSync(join(work, 'clear'));
    execFileSync('age', ['-d', '-i', keyFile, '-o', clear, archive]);
    expect(execFileSync('tar', ['-tzf', clear]).toString()).toContain('postgresql/database.backup');
    const verified = await ferry(['verify', clear], { BACKUP_DIRECTORY: join(work, 'clear') });
    expect(verified.code, verified.stderr).toBe(0);
    // A clear Ferry archive encrypted by age restores with Ferry.
    const byAge = join(backups, 'backup_20250101_000000.tar.gz.age');
    execFileSync('age', ['-r', recipient, '-o', byAge, clear]);
    renameSync(archive, `${archive}.moved`);
    const target = uniqueName('enc_age');
    const restored = await ferry(['restore', byAge, '--yes', '--only', 'postgres', '-i', keyFile], { DATABASE_URL: pgUrl(target), BACKUP_DIRECTORY: backups });
    expect(restored.code, restored.stderr).toBe(0);
    expect(await tableDigests(target)).toEqual(await tableDigests(db));
    copyFileSync(`${archive}.moved`, archive);
  });
});
