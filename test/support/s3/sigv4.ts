import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export interface SignedRequest {
  accessKeyId: string;
  /** x-amz-content-sha256 as sent: a hex digest the body must match, or UNSIGNED-PAYLOAD. */
  payloadHash: string;
}

export class SignatureError extends Error {
  constructor(readonly code: 'InvalidAccessKeyId' | 'SignatureDoesNotMatch' | 'AccessDenied', message: string) {
    super(message);
  }
}

/** RFC 3986 encoding, as SigV4 wants it for query keys and values. */
function strictEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function canonicalQuery(rawQuery: string): string {
  if (rawQuery === '') return '';
  return rawQuery.split('&')
    .map((pair) => {
      const at = pair.indexOf('=');
      const key = decodeURIComponent(at < 0 ? pair : pair.slice(0, at));
      const value = at < 0 ? '' : decodeURIComponent(pair.slice(at + 1).replace(/\+/g, '%20'));
      return [strictEncode(key), strictEncode(value)] as const;
    })
    .sort(([ak, av], [bk, bv]) => (ak === bk ? (av < bv ? -1 : 1) : ak < bk ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data).digest();

/**
 * Checks an AWS Signature Version 4 Authorization header the way S3 does: the canonical request is
 * rebuilt from what arrived, so a wrong secret, a wrong region or a changed header all fail.
 */
export function verifySignature(req: IncomingMessage, credentials: Record<string, string>): SignedRequest {
  const header = req.headers.authorization;
  if (header === undefined) throw new SignatureError('AccessDenied', 'Anonymous access is not allowed');
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(header);
  if (m === null) throw new SignatureError('AccessDenied', 'Unsupported Authorization header');
  const [, accessKeyId, day, region, signedHeaders, signature] = m as unknown as [string, string, string, string, string, string];
  const secret = credentials[accessKeyId];
  if (secret === undefined) throw new SignatureError('InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.');
  const amzDate = String(req.headers['x-amz-date'] ?? '');
  const payloadHash = String(req.headers['x-amz-content-sha256'] ?? '');
  const [path = '/', rawQuery = ''] = (req.url ?? '/').split('?', 2);
  const headerLines = signedHeaders.split(';').map((name) => {
    const value = req.headers[name];
    const text = Array.isArray(value) ? value.join(',') : String(value ?? '');
    return `${name}:${text.trim().replace(/\s+/g, ' ')}\n`;
  });
  const canonical = [req.method, path, canonicalQuery(rawQuery), headerLines.join(''), signedHeaders, payloadHash].join('\n');
  const scope = `${day}/${region}/s3/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, createHash('sha256').update(canonical).digest('hex')].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, day), region), 's3'), 'aws4_request');
  const expected = hmac(key, stringToSign);
  if (!timingSafeEqual(expected, Buffer.from(signature, 'hex'))) {
    throw new SignatureError('SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.');
  }
  return { accessKeyId, payloadHash };
}
