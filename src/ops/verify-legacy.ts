import type { ArchiveEntryHeader, Manifest } from '../archive/index.js';
import type { Logger } from '../stores/index.js';
import { legacyManifest } from './catalog.js';
import type { VerifyFinding } from './verify.js';

/** JSON entries of an archive without a manifest are kept up to this size to be parsed whole. */
export const LEGACY_JSON_LIMIT = 64 * 1024 * 1024;

export function isJsonEntry(path: string): boolean {
  return path.endsWith('.json');
}

/**
 * The manifest an archive of the old scripts implies, or the finding that it is not one. Called only
 * when the archive holds no manifest.json and has no manifest sidecar.
 */
export function deriveLegacy(label: string, headers: ArchiveEntryHeader[]): { manifest: Manifest } | { finding: VerifyFinding } {
  try {
    return { manifest: legacyManifest(label, headers) };
  } catch (error) {
    return { finding: { entry: 'manifest.json', problem: `the archive has no manifest.json, and ${(error as Error).message.replace(/^archive \S+ has no manifest\.json and /, '')}` } };
  }
}

/**
 * What can be checked in the old scripts' archives without checksums, beyond what the content
 * checkers read: the dump restore needs is there, and every JSON file (Python json.dump exports,
 * mongodump metadata) parses as a whole.
 */
export function legacyFindings(manifest: Manifest, headers: ArchiveEntryHeader[], json: Map<string, Buffer | undefined>, log: Logger): VerifyFinding[] {
  const findings: VerifyFinding[] = [];
  const files = new Set(headers.filter((h) => h.type === 'file').map((h) => h.path));
  if (manifest.stores.postgres !== undefined && !files.has('postgresql/database.backup')) {
    findings.push({ entry: 'postgresql/database.backup', problem: 'postgresql/ holds no database.backup, the custom-format dump a restore reads' });
  }
  for (const [path, body] of json) {
    if (body === undefined) {
      log.warn(`${path}: over ${LEGACY_JSON_LIMIT / 1024 / 1024} MB, not parsed`);
      continue;
    }
    // mongorestore reads an empty metadata file as "no metadata" (MetadataFromJSON), and the fixtures have one.
    if (body.length === 0 && path.endsWith('.metadata.json')) continue;
    try {
      JSON.parse(body.toString('utf8').replace(/^\uFEFF/, ''));
    } catch (error) {
      findings.push({ entry: path, problem: `${path} is not valid JSON: ${(error as Error).message}` });
    }
  }
  return findings;
}
