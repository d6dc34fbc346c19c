import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/**
 * How the dashboard knows its users: a password whose scrypt hash is in the configuration, a random
 * token printed once at start (as Jupyter does), or nobody at all (loopback only, read-only).
 */
export type AuthMode = { kind: 'password'; hash: string } | { kind: 'token'; token: string } | { kind: 'none' };

export const SESSION_COOKIE = 'ferry_session';
const SESSION_HOURS = 12;

interface SessionRecord {
  csrf: string;
  expires: number;
}

const SCRYPT = { N: 16384, r: 8, p: 1, keyLength: 32 };

function scryptAsync(password: string, salt: Buffer, keyLength: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scrypt(password, salt, keyLength, options, (error, key) => (error === null ? resolve(key) : reject(error))));
}

/** `scrypt$N$r$p$salt$key` (base64url), what serve.password_hash holds. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, SCRYPT.keyLength, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p });
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

/** Whether serve.password_hash has the shape hashPassword writes. */
export function isPasswordHash(hash: string): boolean {
  return /^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9_-]+\$[A-Za-z0-9_-]+$/.test(hash);
}

export async function checkPassword(password: string, hash: string): Promise<boolean> {
  const [, n, r, p, salt, key] = hash.split('$');
  if (n === undefined || r === undefined || p === undefined || salt === undefined || key === undefined) return false;
  const expected = Buffer.from(key, 'base64url');
  const N = Number(n);
  const actual = await scryptAsync(password, Buffer.from(salt, 'base64url'), expected.length, { N, r: Number(r), p: Number(p), maxmem: 256 * N * Number(r) });
  return timingSafeEqual(actual, expected);
}

export function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function randomSecret(): string {
  return randomBytes(24).toString('base64url');
}

/** Sessions live in memory: a restart signs everyone out, which is what a new token means anyway. */
export class Sessions {
  private readonly sessions = new Map<string, SessionRecord>();

  open(): { id: string; csrf: string } {
    const now = Date.now();
    for (const [id, session] of this.sessions) if (session.expires < now) this.sessions.delete(id);
    const id = randomSecret();
    const csrf = randomSecret();
    this.sessions.set(id, { csrf, expires: now + SESSION_HOURS * 3_600_000 });
    return { id, csrf };
  }

  /** The session's CSRF token, or undefined when the id is unknown or expired. */
  csrfOf(id: string | undefined): string | undefined {
    if (id === undefined) return undefined;
    const session = this.sessions.get(id);
    if (session === undefined) return undefined;
    if (session.expires < Date.now()) {
      this.sessions.delete(id);
      return undefined;
    }
    return session.csrf;
  }

  static readonly maxAgeSeconds = SESSION_HOURS * 3600;
}
