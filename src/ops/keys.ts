import { readFileSync } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { FerryError } from '../errors/index.js';
import type { Readable } from 'node:stream';
import { AGE_SUFFIX, decrypting } from '../archive/index.js';
import type { OperationContext } from './context.js';

/** The AGE-SECRET-KEY lines of an identity file (comments and blank lines skipped). */
export function identitiesIn(text: string): string[] {
  return text.split('\n').map((line) => line.trim()).filter((line) => line.startsWith('AGE-SECRET-KEY-'));
}

export function readIdentityFile(path: string): string[] {
  return identitiesIn(readFileSync(path, 'utf8'));
}

/** Writes a new age identity (mode 0600, never over an existing file) and returns its recipient. */
export async function generateKey(path: string): Promise<{ path: string; recipient: string }> {
  const { generateIdentity, identityToRecipient } = await import('age-encryption');
  const identity = await generateIdentity();
  const recipient = await identityToRecipient(identity);
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  let handle;
  try {
    handle = await open(path, 'wx', 0o600);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new FerryError('USAGE', `${path} already exists; a key is never overwritten`, { hint: 'Choose another --output, or move the old key away if it is really no longer needed (older backups need it).' });
    }
    throw cause;
  }
  try {
    await handle.writeFile(`# created: ${new Date().toISOString()}\n# public key: ${recipient}\n${identity}\n`);
  } finally {
    await handle.close();
  }
  return { path, recipient };
}

/** Keys for reading encrypted archives, from --identity files and the FERRY_AGE_* environment. */
export function keysFrom(identityFiles: string[], env: NodeJS.ProcessEnv): { identities: string[]; passphrase?: string } {
  const files = [...identityFiles, ...(env.FERRY_AGE_IDENTITY_FILE ? [env.FERRY_AGE_IDENTITY_FILE] : [])];
  const identities: string[] = [];
  for (const file of files) {
    try {
      identities.push(...readIdentityFile(file));
    } catch (cause) {
      throw new FerryError('DECRYPT_KEY_MISSING', `cannot read identity file ${file}`, { hint: 'Check the --identity path (or FERRY_AGE_IDENTITY_FILE) and its permissions.', cause });
    }
  }
  let passphrase = env.FERRY_AGE_PASSPHRASE === '' ? undefined : env.FERRY_AGE_PASSPHRASE;
  if (passphrase === undefined && env.FERRY_AGE_PASSPHRASE_FILE) {
    try {
      passphrase = readFileSync(env.FERRY_AGE_PASSPHRASE_FILE, 'utf8').trim();
    } catch (cause) {
      throw new FerryError('DECRYPT_KEY_MISSING', `cannot read FERRY_AGE_PASSPHRASE_FILE ${env.FERRY_AGE_PASSPHRASE_FILE}`, { hint: 'Fix the path or its permissions.', cause });
    }
  }
  return { identities, ...(passphrase === undefined ? {} : { passphrase }) };
}

/** Read options that decrypt the archive on the way when it is encrypted (named .age). */
export function decryption(ctx: OperationContext, archive: string): { decrypt?: (encrypted: Readable) => Promise<Readable> } {
  if (!archive.endsWith(AGE_SUFFIX)) return {};
  return { decrypt: (encrypted) => decrypting(encrypted, ctx.keys ?? { identities: [] }, archive) };
}
