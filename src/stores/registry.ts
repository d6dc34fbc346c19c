import { dumpCompression, type FerryConfig } from '../config/index.js';
import { ExecFilesStore, FilesStore } from './files/index.js';
import { MongoStore } from './mongo/index.js';
import { PostgresStore } from './postgres/index.js';
import type { ContentChecker, FingerprintFields, IdentityReader, SourceFields, Store, StoreKind } from './store.js';
import { opaqueSource } from './store.js';
import { filesIdentity } from './files/identity.js';
import { mongoIdentity } from './mongo/identity-fields.js';
import { postgresIdentity } from './postgres/identity.js';
import { postgresContentChecker } from './postgres/verify.js';
import { mongoBsonChecker, mongoExportChecker } from './mongo/verify.js';

/** One line per store kind: how its section of the configuration becomes a Store. */
const FACTORIES: Array<{ kind: StoreKind; fromConfig: (config: FerryConfig) => Store | undefined }> = [
  { kind: 'postgres', fromConfig: (c) => (c.postgres === undefined ? undefined : new PostgresStore(c.postgres, dumpCompression(c))) },
  { kind: 'mongo', fromConfig: (c) => (c.mongodb === undefined ? undefined : new MongoStore(c.mongodb)) },
  { kind: 'uploads', fromConfig: (c) => uploadsStore(c.uploads) },
];

function uploadsStore(config: FerryConfig['uploads']): Store | undefined {
  if (config?.exec !== undefined) return new ExecFilesStore({ ...config, exec: config.exec });
  if (config?.path !== undefined) return new FilesStore({ ...config, path: config.path });
  return undefined;
}

export const STORE_KINDS: readonly StoreKind[] = FACTORIES.map((f) => f.kind);

export function storesFromConfig(config: FerryConfig): Store[] {
  return FACTORIES.map((f) => f.fromConfig(config)).filter((s): s is Store => s !== undefined);
}

/** Content checks for every kind of entry Ferry writes; they need no configured store. */
export const CONTENT_CHECKERS: readonly ContentChecker[] = [postgresContentChecker, mongoBsonChecker, mongoExportChecker];

const IDENTITY_READERS: Record<StoreKind, IdentityReader> = { postgres: postgresIdentity, mongo: mongoIdentity, uploads: filesIdentity };

/** A manifest's source and fingerprint as fields; a kind this Ferry does not know keeps only the text. */
export function readStoreIdentity(kind: string, source: string, fingerprint: string | undefined): { source: SourceFields; fingerprint: FingerprintFields | null } {
  const reader = (IDENTITY_READERS as Record<string, IdentityReader | undefined>)[kind];
  if (reader === undefined) return { source: opaqueSource(source), fingerprint: fingerprint === undefined ? null : { value: fingerprint, by: 'unknown' } };
  return { source: reader.source(source), fingerprint: fingerprint === undefined ? null : reader.fingerprint(fingerprint) };
}
