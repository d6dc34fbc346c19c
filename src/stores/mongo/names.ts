import { createHash } from 'node:crypto';

/**
 * File names as mongodump writes them: Go's url.QueryEscape of the collection name (space as "+",
 * everything but letters, digits and -_.~ percent-encoded), with names too long for a file system
 * cut and suffixed with a hash.
 */
export function escapeCollectionName(name: string): string {
  const escaped = encodeURIComponent(name)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
  if (escaped.length <= 238) return escaped;
  const hash = createHash('sha1').update(name).digest('base64url');
  return `${escaped.slice(0, 208)}%24${hash}`;
}

export function unescapeCollectionName(file: string): string {
  return decodeURIComponent(file.replace(/\+/g, ' '));
}
