import { Readable } from 'node:stream';
import { FerryError } from '../errors/index.js';

/** age (age-encryption.org/v1): public-key recipients, or a scrypt passphrase. */
export interface EncryptionSettings {
  recipients: string[];
  passphrase?: string | undefined;
}

export interface DecryptionKeys {
  /** AGE-SECRET-KEY-… lines. */
  identities: string[];
  passphrase?: string | undefined;
}

export const AGE_SUFFIX = '.age';
const AGE_HEADER = Buffer.from('age-encryption.org/v1\n');

export function isAgeHeader(firstBytes: Buffer): boolean {
  return firstBytes.subarray(0, AGE_HEADER.length).equals(AGE_HEADER);
}

/** Encrypts while streaming: the clear archive is never whole in memory nor on disk. */
export async function encrypting(source: Readable, settings: EncryptionSettings): Promise<Readable> {
  const { Encrypter } = await import('age-encryption');
  const encrypter = new Encrypter();
  try {
    if (settings.passphrase !== undefined) encrypter.setPassphrase(settings.passphrase);
    for (const recipient of settings.recipients) encrypter.addRecipient(recipient);
  } catch (cause) {
    throw new FerryError('CONFIG_INVALID', `backup.encryption: ${(cause as Error).message}`, {
      hint: 'Recipients are age public keys (age1…); a passphrase cannot be combined with recipients. ferry key generate makes a key pair.',
      cause,
    });
  }
  return Readable.fromWeb(await encrypter.encrypt(Readable.toWeb(source) as ReadableStream<Uint8Array>) as import('node:stream/web').ReadableStream);
}

/** Decrypts while streaming; a wrong key is known from the header, tampering while reading. */
export async function decrypting(source: Readable, keys: DecryptionKeys, label: string): Promise<Readable> {
  if (keys.identities.length === 0 && keys.passphrase === undefined) {
    throw new FerryError('DECRYPT_KEY_MISSING', `${label} is encrypted and no key was given`, {
      hint: 'Pass --identity <file> (or set FERRY_AGE_IDENTITY_FILE), or FERRY_AGE_PASSPHRASE / FERRY_AGE_PASSPHRASE_FILE for a passphrase archive.',
    });
  }
  const { Decrypter } = await import('age-encryption');
  const decrypter = new Decrypter();
  try {
    for (const identity of keys.identities) decrypter.addIdentity(identity);
    if (keys.passphrase !== undefined) decrypter.addPassphrase(keys.passphrase);
  } catch (cause) {
    throw new FerryError('DECRYPT_KEY_MISSING', `the identity file does not hold a valid age identity (${(cause as Error).message})`, {
      hint: 'An identity file has lines starting with AGE-SECRET-KEY-1; ferry key generate writes one.',
      cause,
    });
  }
  try {
    return Readable.fromWeb(await decrypter.decrypt(Readable.toWeb(source) as ReadableStream<Uint8Array>) as import('node:stream/web').ReadableStream);
  } catch (cause) {
    const message = (cause as Error).message;
    if (/no identity matched/.test(message)) {
      throw new FerryError('DECRYPT_WRONG_KEY', `${label}: none of the given keys opens it`, {
        hint: 'Use the identity whose recipient (age1…) was in backup.encryption.recipients when this backup was made, or the right passphrase.',
        cause,
      });
    }
    throw new FerryError('ARCHIVE_CORRUPT', `${label}: the age header is damaged (${message})`, { hint: 'The file is corrupt; restore from another backup.', cause });
  }
}
