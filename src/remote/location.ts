import { FerryError } from '../errors/index.js';

/** Where remote backups live: a bucket and a key prefix ('' or ending in '/'). */
export interface RemoteLocation {
  bucket: string;
  prefix: string;
}

const S3_URL = /^s3:\/\/([A-Za-z0-9][A-Za-z0-9._-]{1,62})(?:\/(.*))?$/;

export function parseRemoteUrl(url: string): RemoteLocation {
  const m = S3_URL.exec(url);
  if (m === null) {
    throw new FerryError('USAGE', `${url} is not an S3 location`, { hint: 'Write it as s3://bucket or s3://bucket/prefix.' });
  }
  const path = (m[2] ?? '').replace(/^\/+|\/+$/g, '');
  return { bucket: m[1] as string, prefix: path === '' ? '' : `${path}/` };
}

export function remoteUrl(location: RemoteLocation, name = ''): string {
  return `s3://${location.bucket}/${location.prefix}${name}`;
}

export function isRemoteReference(reference: string): boolean {
  return reference.startsWith('s3://');
}

/**
 * `s3://bucket/prefix/latest` or `s3://bucket/prefix/backup_….tar.gz`: the folder and the name in it.
 */
export function parseRemoteReference(reference: string): { location: RemoteLocation; name: string } {
  const cut = reference.lastIndexOf('/');
  const name = reference.slice(cut + 1);
  if (cut < 's3://'.length || name === '') {
    throw new FerryError('USAGE', `${reference} names no backup`, { hint: 'End it with the archive name or latest, e.g. s3://bucket/prefix/latest.' });
  }
  return { location: parseRemoteUrl(reference.slice(0, cut)), name };
}
