import { z } from 'zod';
import { FerryError } from '../errors/index.js';

/**
 * manifest.json, the machine-readable description of an archive. FORMAT_VERSION only ever grows;
 * readers accept every version up to it, so archives stay restorable for good.
 */
export const FORMAT_VERSION = 2;
/** What full archives still write: a Ferry that knows only version 1 restores them. Deltas write 2. */
export const FULL_FORMAT_VERSION = 1;
/** Given to archives in the old scripts' layout, which carry no manifest at all. */
export const LEGACY_FORMAT_VERSION = 0;
export const MANIFEST_ENTRY = 'manifest.json';
export const INFO_ENTRY = 'backup_info.txt';

const entrySchema = z.object({
  path: z.string(),
  type: z.enum(['file', 'directory', 'symlink']),
  size: z.number().int().nonnegative(),
  sha256: z.string().optional(),
  /**
   * Entries a restore wants early (the PostgreSQL dump) in a gzip archive that is not encrypted:
   * where to start reading to reach the entry without inflating what comes before it. `offset` is
   * the byte of the archive file where a gzip member begins; inflating from there, the entry's tar
   * header begins after `skip` bytes. Readers that ignore it read from the start, as before.
   */
  seek: z.object({ offset: z.number().int().nonnegative(), skip: z.number().int().nonnegative() }).optional(),
  mode: z.number().int().optional(),
  mtime: z.string().optional(),
  linkTarget: z.string().optional(),
});

const storeSchema = z.object({
  kind: z.string(),
  source: z.string(),
  fingerprint: z.string().optional(),
  serverVersion: z.string().optional(),
  toolVersion: z.string().optional(),
  /** Exact row/document/file counts per object, keyed as the store names them. */
  counts: z.record(z.string(), z.number().int().nonnegative()),
  bytes: z.number().int().nonnegative(),
  durationSeconds: z.number().nonnegative(),
  warnings: z.array(z.string()).default([]),
  /**
   * Incremental stores: `full` starts a chain; a `delta` holds only what changed since `base` (the
   * backup before it, named with the sha256 of its manifest.json) and is restored on top of it.
   * `position` counts the deltas since the full. In a delta, counts and bytes are the whole store's.
   */
  chain: z.object({
    kind: z.enum(['full', 'delta']),
    position: z.number().int().nonnegative(),
    base: z.object({ name: z.string(), manifestSha256: z.string() }).optional(),
    /** Bytes of the files this archive holds (the changed ones, in a delta). */
    writtenBytes: z.number().int().nonnegative(),
  }).optional(),
  /** Store-specific facts worth keeping: server time at the start, replica set, database name. */
  facts: z.record(z.string(), z.string()).optional(),
});

export const manifestSchema = z.object({
  format: z.literal('ferry-archive'),
  formatVersion: z.number().int().positive(),
  tool: z.object({ name: z.string(), version: z.string() }),
  createdAt: z.string(),
  host: z.string(),
  durationSeconds: z.number().nonnegative(),
  stores: z.record(z.string(), storeSchema),
  entries: z.array(entrySchema),
  /** Written by `ferry mask`: the rules applied (never the key) and what they changed. */
  masked: z.object({
    at: z.string(),
    from: z.object({ name: z.string(), sha256: z.string() }),
    ruleSetSha256: z.string(),
    rules: z.record(z.string(), z.unknown()),
    objects: z.array(z.object({ store: z.string(), object: z.string(), rows: z.number(), masked: z.number() })),
  }).optional(),
  /** How the tar stream is compressed (absent: gzip, as archives before zstd). Readers go by the first bytes. */
  compression: z.object({ codec: z.enum(['gzip', 'zstd']), level: z.number().int() }).optional(),
  /**
   * In a delta (written after `entries`): the complete entry list of the incremental store as it was
   * at backup time, and the paths of its base's list that are gone or changed type.
   */
  chainFiles: z.array(entrySchema).optional(),
  chainDeleted: z.array(z.string()).optional(),
  /** In the sidecar of an encrypted archive, which then lists no entries. */
  encryption: z.object({ recipients: z.array(z.string()), passphrase: z.boolean() }).optional(),
});

export type Manifest = z.infer<typeof manifestSchema>;
export type ManifestEntry = z.infer<typeof entrySchema>;
export type StoreManifest = z.infer<typeof storeSchema>;

export function parseManifest(text: string, where: string): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new FerryError('ARCHIVE_CORRUPT', `${where}: manifest.json is not valid JSON`, {
      hint: 'The archive is damaged; use another backup, or run ferry verify on it for details.',
      cause,
    });
  }
  const version = (json as { formatVersion?: unknown } | null)?.formatVersion;
  if (typeof version === 'number' && version > FORMAT_VERSION) {
    throw new FerryError('ARCHIVE_FORMAT_UNSUPPORTED', `${where}: archive format ${version} is newer than this Ferry understands (${FORMAT_VERSION})`, {
      hint: 'Upgrade Ferry to the version that wrote the archive, or newer.',
    });
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new FerryError('ARCHIVE_CORRUPT', `${where}: manifest.json is malformed at ${issue?.path.join('.') ?? '?'}: ${issue?.message ?? ''}`, {
      hint: 'The archive is damaged or was not written by Ferry; run ferry verify on it for details.',
    });
  }
  return parsed.data;
}

/** Per store: rows, documents or folder entries summed over its objects, and the bytes dumped. */
export function storeTotals(manifest: Pick<Manifest, 'stores'>): Record<string, { items: number; bytes: number }> {
  return Object.fromEntries(Object.entries(manifest.stores).map(([kind, store]) => [kind, {
    items: Object.values(store.counts).reduce((a, b) => a + b, 0),
    bytes: store.bytes,
  }]));
}

/** The archive entry of a delta listing its deletions, NUL-terminated, for `xargs -0 rm -rf`. */
export const DELETIONS_ENTRY = 'uploads.deleted';

/** The complete entry list of the store under `prefix`: a delta's own list, or a full's entries. */
export function chainFileList(manifest: Pick<Manifest, 'entries' | 'chainFiles'>, prefix: string): ManifestEntry[] {
  return manifest.chainFiles ?? manifest.entries.filter((entry) => entry.path.startsWith(prefix) && entry.path !== prefix);
}
