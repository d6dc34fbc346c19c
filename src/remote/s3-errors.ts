import { FerryError } from '../errors/index.js';

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
}

const AUTH_CODES = new Set(['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'Forbidden', 'ExpiredToken', 'InvalidToken', 'CredentialsProviderError', 'AuthorizationHeaderMalformed']);
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'TimeoutError']);

/**
 * One FerryError for whatever the SDK threw, naming the action and the place, never the secret.
 * `what` is a phrase like "listing s3://bucket/prefix/".
 */
export function remoteError(error: unknown, what: string): FerryError {
  if (error instanceof FerryError) return error;
  const e = (error ?? {}) as SdkError;
  const code = e.Code ?? e.name ?? e.code ?? 'Error';
  const status = e.$metadata?.httpStatusCode;
  const detail = `${code}${status === undefined ? '' : ` (HTTP ${status})`}`;
  if (code === 'CredentialsProviderError' || /Could not load credentials/i.test(e.message ?? '')) {
    return new FerryError('REMOTE_AUTH', `${what}: no AWS credentials found`, {
      hint: 'Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) in the environment of ferry; they are never read from the command line.',
      cause: error,
    });
  }
  if (AUTH_CODES.has(code) || status === 403) {
    return new FerryError('REMOTE_AUTH', `${what}: the store refused the request: ${detail}`, {
      hint: 'Check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), storage.region, and that the key may read, write and list this bucket.',
      cause: error,
    });
  }
  if (code === 'NoSuchBucket') {
    return new FerryError('REMOTE_BUCKET_MISSING', `${what}: the bucket does not exist`, {
      hint: 'Create the bucket, or fix storage.remote, storage.endpoint and storage.force_path_style.',
      cause: error,
    });
  }
  if (NETWORK_CODES.has(code) || NETWORK_CODES.has(e.code ?? '')) {
    return new FerryError('REMOTE_UNREACHABLE', `${what}: the endpoint did not answer (${e.code ?? code})`, {
      hint: 'Check storage.endpoint (or the AWS region) and the network. Local backups are kept; ferry push uploads them later.',
      cause: error,
    });
  }
  return new FerryError('REMOTE_FAILED', `${what}: ${detail}${e.message !== undefined && e.message !== code ? `: ${e.message}` : ''}`, {
    hint: 'Run the command again; ferry push retries uploads that did not finish. The local archive is never removed because of a remote failure.',
    cause: error,
  });
}
