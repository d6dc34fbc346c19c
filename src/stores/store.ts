import type { MaskRules } from '../mask/rules.js';
import type { Masker } from '../mask/transformers.js';
import type { Readable } from 'node:stream';
import type { ArchiveEntryHeader, ArchiveSink, ManifestEntry, StoreManifest } from '../archive/index.js';
import type { Redactor } from '../config/index.js';

export type StoreKind = 'postgres' | 'mongo' | 'uploads';

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  debug(message: string): void;
}

/** Progress is injected; the library never prints. */
export interface ProgressReporter {
  /** A step; with totalBytes a percent and ETA are shown (marked as approximate with estimate). */
  start(label: string, totalBytes?: number, options?: { estimate?: boolean }): void;
  /** detail names what is being worked on, e.g. "table public.recipes". */
  update(doneBytes: number, detail?: string): void;
  done(summary?: string): void;
}

/** Reports nothing: for work that runs while another step owns the progress line. */
export const silentProgress: ProgressReporter = { start: () => undefined, update: () => undefined, done: () => undefined };

export interface StoreContext {
  signal: AbortSignal;
  log: Logger;
  progress: ProgressReporter;
  redactor: Redactor;
  /** A private folder for temporary files, removed by the caller. */
  tempDir: string;
  /** This store's part of the previous backup's manifest, for progress estimates. */
  previous?: StoreManifest;
  /** For a store that writes deltas: the backup a delta would build on. */
  base?: ChainBase;
}

/** The backup a delta builds on: its name, its manifest's sha256, and the store's complete entry list then. */
export interface ChainBase {
  name: string;
  manifestSha256: string;
  /** Deltas between the chain's full and the base (0: the base is the full). */
  position: number;
  entries: readonly ManifestEntry[];
}

/** What a delta adds to the manifest: the store's complete entry list and what is gone since the base. */
export interface ChainList {
  files: ManifestEntry[];
  deleted: string[];
}

export interface PreflightReport {
  /** One line for logs: server, version, tool chosen. */
  summary: string;
  serverVersion?: string;
  /** Bytes the dump is expected to need in temporary space and in the archive, when known. */
  estimatedBytes?: number;
}

export interface RestoreOptions {
  /** Restore into this database name instead of the configured one (stores with databases). */
  toDatabase?: string;
  /** Parallel jobs; gives up the single transaction where a store has one. */
  jobs?: number;
  /** Only these MongoDB collections. */
  collections?: string[];
  /** Only these PostgreSQL tables (pg_restore --table). */
  tables?: string[];
  /** Mask personal data on its way into the target. */
  mask?: MaskSettings;
  /** Terminate sessions connected to the target instead of refusing (--force, restore.disconnect). */
  disconnect?: boolean;
  /** --tables: also empty the tables that reference the selected ones (TRUNCATE … CASCADE). */
  cascade?: boolean;
  /** Also keep a pristine copy of what is restored, for `ferry reset` (restore.keep_pristine). */
  keepPristine?: boolean;
  /** How PostgreSQL replaces the target (restore.strategy); auto when absent. */
  strategy?: 'auto' | 'swap' | 'in-place';
  /** The archive's entry list (paths, sizes, times, sha256), for a plan that compares the target with it. */
  archiveEntries?: readonly ManifestEntry[];
}

/**
 * A copy of a store's data that restores keep beside the target: `previous` is what the last
 * restore replaced (for `ferry restore --undo`), `pristine` what it restored (for `ferry reset`).
 * Found by name (`<db>__ferry_prev`, `<coll>__ferry_prev`, `<folder>.ferry-prev`, …), never by a state file.
 */
export interface KeptCopy {
  role: 'previous' | 'pristine';
  /** Where it is, without secrets. */
  describe: string;
  /** Its size on disk, when the store can tell. */
  bytes?: number;
}

export interface MaskSettings {
  rules: MaskRules;
  masker: Masker;
}

/** Per table or collection: rows/documents seen by the masking stream and values it replaced. */
export interface MaskedObjectStats {
  object: string;
  rows: number;
  masked: number;
}

export interface ObjectCount {
  object: string;
  expected: number;
  actual: number;
}

export interface StoreRestoreResult {
  target: string;
  counts: ObjectCount[];
  durationSeconds: number;
  /** With masking: what the masking stream saw and replaced. */
  masking?: MaskedObjectStats[];
  /** What really happened, one line each (strategy used, what was kept for undo, what was moved aside). */
  notes?: string[];
}

/** What a store does with its part of an archive during restore: stage first, apply only when all is staged. */
export interface RestoreStaging {
  /** Takes one entry under the store's prefix; must consume `data`. */
  accept(header: ArchiveEntryHeader, relativePath: string, data: Readable): Promise<void>;
  /**
   * Entries (relative paths) worth taking before the archive's pass reaches them, because a long step
   * starts from them (the PostgreSQL load): restore reads them ahead in a second pass over the file.
   */
  readonly readAhead?: readonly string[];
  /**
   * Of the entries (relative paths) the archive holds under the store's prefix, the ones the store
   * uses; all of them when absent. A restore stops reading the archive once every selected store has
   * had what it uses.
   */
  uses?(relativePaths: readonly string[]): readonly string[];
  /** Checks what is staged (masking rules against the data, say) before any store is applied. */
  validate?(): Promise<void>;
  /** Makes the staged data live, all or nothing. */
  apply(): Promise<StoreRestoreResult>;
  /** Removes anything staged; called on every path, also after apply. */
  discard(): Promise<void>;
}

export interface RestoreTarget {
  /** For messages: where data will go, without secrets. */
  describe: string;
  /** Identity of the target, compared with the archive's source fingerprint. */
  fingerprint: string | undefined;
  /** What the target holds now, for the plan and confirmation; absent objects count 0. */
  currentCounts: Record<string, number> | undefined;
  /** Lines the plan shows under this store: how it will be replaced, what is moved aside, what cannot be undone. */
  notes?: string[];
}

export interface DatabaseCheck {
  target: string;
  serverVersion: string;
  /** Tables or collections with their row/document counts (estimated for PostgreSQL tables not required). */
  objects: Array<{ name: string; count: number; estimated: boolean; required: boolean }>;
  /** Required objects that do not exist. */
  missing: string[];
}

export interface DatabaseInit {
  created: string[];
  unchanged: string[];
  /** Declared objects that exist with another definition: reported, never dropped. */
  conflicts: string[];
  /** Declared objects that exist with the same definition under another name: reported, left as they are. */
  drift?: string[];
}

/** A store's data, read from its source and ready to go into the archive. */
export interface StagedDump {
  /** Writes the entries (one after another: the archive is a single stream) and describes them. */
  write(sink: ArchiveSink): Promise<StoreManifest>;
  /**
   * Archive paths whose content the tool that restores them has already read whole while staging,
   * from the very bytes that are written: verifying the archive in the same pass compares their
   * checksums and skips the content check that would repeat that reading.
   */
  contentProven?: string[];
  /** After `write`, for a delta: the lists the manifest records. */
  chainList?(): ChainList | undefined;
}

export interface Store {
  readonly kind: StoreKind;
  /** The folder (with trailing slash) this store owns inside the archive. */
  readonly archivePrefix: string;
  /** Where the data lives, never with a password; with toDatabase, that database on the same server. */
  describe(options?: Pick<RestoreOptions, 'toDatabase'>): string;
  /** Tools, versions, credentials, space: fails in seconds, before heavy work. */
  preflight(ctx: StoreContext): Promise<PreflightReport>;
  /**
   * Reads the source into ctx.tempDir. Stores are staged concurrently (a PostgreSQL dump, a MongoDB
   * dump and the archiving of another store overlap); each is written when its staging is done.
   */
  stage(ctx: StoreContext): Promise<StagedDump>;
  /** The hosts a restore would write to (empty for a folder), checked before connecting. */
  targetHosts(): string[];
  /** Checks the restore target and reports what is there now. */
  inspectTarget(manifest: StoreManifest, options: RestoreOptions, ctx: StoreContext): Promise<RestoreTarget>;
  prepareRestore(manifest: StoreManifest, options: RestoreOptions, ctx: StoreContext): Promise<RestoreStaging>;
  /** The copies restores kept beside the target (none when there are none). */
  keptCopies?(options: RestoreOptions, ctx: StoreContext): Promise<KeptCopy[]>;
  /**
   * Swaps the previous copy back in; what it replaces becomes the previous copy, so a second undo
   * redoes. Throws NOTHING_TO_UNDO when there is no previous copy. Returns a one-line summary.
   */
  undo?(options: RestoreOptions, ctx: StoreContext): Promise<string>;
  /**
   * Brings back the pristine copy of the last restore; what it replaces becomes the previous copy.
   * Throws NOTHING_TO_RESET when there is none. Returns a one-line summary.
   */
  reset?(options: RestoreOptions, ctx: StoreContext): Promise<string>;
  /** Removes the kept copies of these roles; returns what it removed. */
  dropKept?(roles: Array<KeptCopy['role']>, options: RestoreOptions, ctx: StoreContext): Promise<string[]>;
  /** For database stores: one attempt to reach the server and look at what is there. */
  checkDatabase?(attemptTimeoutSeconds: number): Promise<DatabaseCheck>;
  /** For stores with declared objects: create what is missing, idempotently. */
  initDatabase?(): Promise<DatabaseInit>;
}

export interface ContentCheckContext {
  signal: AbortSignal;
  log: Logger;
  /** postgres.bin_dir and postgres.exec when configured, to find pg_restore. */
  pgBinDir?: string | undefined;
  pgExec?: string | undefined;
  /** A private folder for the duration of the check, removed afterwards. */
  tempDir: string;
}

export interface ContentCheckResult {
  problems: string[];
  /** What the entry holds, compared with the manifest once it has been read (it comes last). */
  count?: { store: string; object: string; value: number };
}

/**
 * Checks what an archive entry holds, beyond its checksum: a dump that restores, documents that
 * parse. Works from the archive alone, with no database configured and no manifest yet.
 */
export interface ContentChecker {
  accepts(path: string): boolean;
  /**
   * Must read `data` to its end. The result may come later than that: the archive moves on to its
   * next entry as soon as `data` is read, while a slower check (an external tool) goes on.
   */
  check(path: string, data: Readable, ctx: ContentCheckContext): Promise<ContentCheckResult>;
}

/**
 * A store's source as the manifest records it (`describe()` at backup time), read back into fields
 * for scripts. Hosts keep their port (`db:5432`); absent parts are null.
 */
export interface SourceFields {
  description: string;
  user: string | null;
  hosts: string[];
  database: string | null;
  path: string | null;
}

/** The manifest's source fingerprint (what the "never into the source" guard compares), read back into fields. */
export type FingerprintFields =
  | { value: string; by: 'system-identifier'; systemIdentifier: string; database: string }
  | { value: string; by: 'host'; host: string; database: string }
  | { value: string; by: 'replica-set'; replicaSet: string; database: string }
  | { value: string; by: 'collection-uuids'; collectionUuids: string[]; replicaSet: string | null }
  | { value: string; by: 'inode'; host: string; device: number; inode: number }
  | { value: string; by: 'unknown' };

/** Reads back what a store kind writes as `source` and `fingerprint`; the formats live with the store. */
export interface IdentityReader {
  source(text: string): SourceFields;
  fingerprint(text: string): FingerprintFields;
}

export function opaqueSource(description: string): SourceFields {
  return { description, user: null, hosts: [], database: null, path: null };
}
