import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';

/** The server side of SCRAM-SHA-256 (RFC 7677), enough for the official driver to log in or be refused. */
export class ScramConversation {
  private clientFirstBare = '';
  private serverFirst = '';
  private nonce = '';
  readonly salt = randomBytes(16);
  readonly iterations = 4096;
  user = '';

  start(payload: Buffer): string {
    const message = payload.toString('utf8');
    this.clientFirstBare = message.replace(/^n,[^,]*,/, '');
    const attrs = parse(this.clientFirstBare);
    this.user = attrs.n ?? '';
    this.nonce = (attrs.r ?? '') + randomBytes(18).toString('base64');
    this.serverFirst = `r=${this.nonce},s=${this.salt.toString('base64')},i=${this.iterations}`;
    return this.serverFirst;
  }

  /** Returns the server's final message, or undefined when the proof does not match the password. */
  finish(payload: Buffer, password: string | undefined): string | undefined {
    const clientFinal = payload.toString('utf8');
    const attrs = parse(clientFinal);
    if (password === undefined || attrs.r !== this.nonce || attrs.p === undefined) return undefined;
    const withoutProof = clientFinal.slice(0, clientFinal.lastIndexOf(',p='));
    const authMessage = `${this.clientFirstBare},${this.serverFirst},${withoutProof}`;
    const salted = pbkdf2Sync(password.normalize('NFKC'), this.salt, this.iterations, 32, 'sha256');
    const clientKey = hmac(salted, 'Client Key');
    const storedKey = createHash('sha256').update(clientKey).digest();
    const signature = hmac(storedKey, authMessage);
    const proof = Buffer.from(attrs.p, 'base64');
    if (proof.length !== signature.length) return undefined;
    const recovered = Buffer.from(proof.map((b, i) => b ^ (signature[i] ?? 0)));
    if (!timingSafeEqual(createHash('sha256').update(recovered).digest(), storedKey)) return undefined;
    return `v=${hmac(hmac(salted, 'Server Key'), authMessage).toString('base64')}`;
  }
}

function hmac(key: Buffer, text: string): Buffer {
  return createHmac('sha256', key).update(text).digest();
}

function parse(message: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of message.split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) out[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return out;
}
