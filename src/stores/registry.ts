import { dumpCompression, type FerryConfig } from '../config/index.js';
import { ExecFilesStore, FilesStore } from './files/index.js';
import { MongoStore } from './mongo/index.js';
import { PostgresStore } from './postgres/index.js';
import type { ContentChecker, Store, StoreKind } from './store.js';
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
