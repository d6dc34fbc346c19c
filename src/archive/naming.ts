import { FerryError } from '../errors/index.js';
import { ARCHIVE_EXTENSION, type Codec } from './codec.js';

/**
 * Archive and sidecar file names: backup_YYYYMMDD_HHMMSS.tar.gz, or .tar.zst with zstd (then .age
 * when encrypted), UTC.
 */
const ARCHIVE_PATTERN = /^backup_(\d{4})(\d{2})(\d{2})_(\d{2})(\d{2})(\d{2})\.tar\.(?:gz|zst)(?:\.age)?$/;

export const PARTIAL_SUFFIX = '.partial';
export const CHECKSUM_SUFFIX = '.sha256';
export const MANIFEST_SUFFIX = '.manifest.json';
/** The outcome of the last `ferry verify`, so list and health need not re-read the archive. */
export const VERIFY_SUFFIX = '.verify.json';

export function archiveNameFor(date: Date, codec: Codec = 'gzip'): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `backup_${date.getUTCFullYear()}${pad(date.getUTCMonth() + 1)}${pad(date.getUTCDate())}_${pad(date.getUTCHours())}${pad(date.getUTCMinutes())}${pad(date.getUTCSeconds())}${ARCHIVE_EXTENSION[codec]}`;
}

/** The time encoded in an archive's name, or undefined when the name is not one Ferry writes. */
export function timeOfArchiveName(name: string): Date | undefined {
  const m = ARCHIVE_PATTERN.exec(name);
  if (m === null) return undefined;
  const [, y, mo, d, h, mi, s] = m.map(Number) as [number, number, number, number, number, number, number];
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/**
 * The time in the name of an archive the old scripts wrote: `date +%Y%m%d_%H%M%S` gives the host's
 * local time, not UTC (this runs where they ran, so this machine's time zone is theirs).
 */
export function timeOfScriptArchiveName(name: string): Date | undefined {
  const m = ARCHIVE_PATTERN.exec(name);
  if (m === null) return undefined;
  const [, y, mo, d, h, mi, s] = m.map(Number) as [number, number, number, number, number, number, number];
  const date = new Date(y, mo - 1, d, h, mi, s);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

export function isArchiveName(name: string): boolean {
  return timeOfArchiveName(name) !== undefined;
}

export function sidecarNames(archiveName: string): string[] {
  return [archiveName + CHECKSUM_SUFFIX, archiveName + MANIFEST_SUFFIX, archiveName + VERIFY_SUFFIX];
}

/** The one line of a .sha256 sidecar, as sha256sum writes it. */
export function checksumLine(sha256: string, archiveName: string): string {
  return `${sha256}  ${archiveName}\n`;
}

/** The sha256 a .sha256 sidecar records; `source` names it in the error. */
export function sha256OfChecksumLine(text: string, source: string): string {
  const m = /^([0-9a-f]{64})\b/.exec(text.trim());
  if (m === null) throw new FerryError('ARCHIVE_CORRUPT', `${source} does not hold a sha256`, { hint: 'Run ferry verify on the archive; it writes the sidecars again.' });
  return m[1] as string;
}
