import { chainFileList, type Manifest, type StoreManifest } from '../../archive/index.js';
import { FerryError } from '../../errors/index.js';
import { storesFromConfig, type RestoreOptions, type RestoreTarget, type Store, type StoreContext, type StoreKind } from '../../stores/index.js';
import { localBackupAt, locateArchive, manifestOf } from '../catalog.js';
import { CHAIN_PREFIX, CHAIN_STORE, isDelta, resolveChain, type ChainLink } from '../chain.js';
import type { OperationContext } from '../context.js';
import { guardTargetHosts } from './guard.js';
import { decryption } from '../keys.js';

export interface RestoreRequest extends RestoreOptions {
  /** Only these stores; all stores in the archive that have a configured target when absent. */
  only?: StoreKind[];
  /** Allow a target that has the same fingerprint as the archive's source. */
  allowSource?: boolean;
  /** Allow a target on a host that is not clearly local. */
  allowRemote?: boolean;
}

export interface PlannedStore {
  store: Store;
  manifest: StoreManifest;
  target: RestoreTarget;
}

export interface RestorePlan {
  archive: string;
  manifest: Manifest;
  stores: PlannedStore[];
  /** Stores in the archive that will not be restored, with the reason. */
  skipped: Array<{ kind: string; reason: string }>;
  request: RestoreRequest;
  /** For a delta whose uploads are restored: the archives it builds on, the full first. */
  chain?: ChainLink[];
}

/** Decides what a restore will do and looks at each target; changes nothing. */
export async function planRestore(ctx: OperationContext, reference: string, request: RestoreRequest, storeCtx: StoreContext): Promise<RestorePlan> {
  const archive = await locateArchive(reference, ctx.config.backup.directory);
  const manifest = await manifestOf(archive, ctx.signal, decryption(ctx, archive));
  const configured = new Map(storesFromConfig(ctx.config).map((s) => [s.kind as string, s]));
  for (const kind of request.only ?? []) {
    if (manifest.stores[kind] === undefined) {
      throw new FerryError('STORE_NOT_IN_ARCHIVE', `archive ${archive} holds no ${kind} data (it has ${Object.keys(manifest.stores).join(', ') || 'nothing'})`, {
        hint: `Leave ${kind} out of --only, or pick an archive that has it (ferry list).`,
      });
    }
    if (!configured.has(kind)) {
      throw new FerryError('CONFIG_INVALID', `--only ${kind}: no ${kind} target is configured to restore into`, {
        hint: kind === 'postgres' ? 'Set DATABASE_URL (or postgres.url) to the database to restore into.'
          : kind === 'mongo' ? 'Set MONGODB_URL and MONGODB_DB_NAME (or the mongodb section) to the database to restore into.'
          : 'Set UPLOADS_DIR (or uploads.path) to the folder to restore into.',
      });
    }
  }
  const stores: PlannedStore[] = [];
  const selected: Array<{ store: Store; manifest: StoreManifest }> = [];
  const skipped: RestorePlan['skipped'] = [];
  for (const [kind, storeManifest] of Object.entries(manifest.stores)) {
    if (request.only !== undefined && !request.only.includes(kind as StoreKind)) {
      skipped.push({ kind, reason: 'not selected with --only' });
      continue;
    }
    const store = configured.get(kind);
    if (store === undefined) {
      skipped.push({ kind, reason: 'no target configured' });
      continue;
    }
    selected.push({ store, manifest: storeManifest });
  }
  for (const [option, kind, label] of [['collections', 'mongo', 'MongoDB'], ['tables', 'postgres', 'PostgreSQL']] as const) {
    if (request[option] !== undefined && !selected.some((s) => s.store.kind === kind)) {
      throw new FerryError('USAGE', `--${option} selects ${label} ${option}, but this restore has no ${label} (${manifest.stores[kind] === undefined ? `archive ${archive} holds none` : 'not selected, or no target configured'})`, {
        hint: `Leave out --${option}, or restore an archive with ${label} data into a configured target.`,
      });
    }
  }
  guardTargetHosts(selected.map((s) => s.store), request);
  // A delta is refused here, before anything is touched, when a link of its chain is missing.
  const chain = isDelta(manifest) && selected.some((s) => s.store.kind === CHAIN_STORE) ? await resolveChain(localBackupAt(archive).repository, localBackupAt(archive).name, manifest) : undefined;
  const archiveEntries = chain === undefined ? manifest.entries : [...manifest.entries.filter((e) => !e.path.startsWith(CHAIN_PREFIX)), ...chainFileList(manifest, CHAIN_PREFIX)];
  for (const { store, manifest: storeManifest } of selected) {
    const target = await store.inspectTarget(storeManifest, { ...request, archiveEntries }, storeCtx);
    if (chain !== undefined && store.kind === CHAIN_STORE) {
      target.notes = [...(target.notes ?? []), `a delta: its files are read from ${chain.length + 1} archives of its chain (${[...chain.map((l) => l.name), 'this one'].join(' + ')}), each checked`];
    }
    stores.push({ store, manifest: storeManifest, target });
  }
  if (stores.length === 0) {
    throw new FerryError('NO_STORES', `nothing to restore from ${archive}: ${skipped.map((s) => `${s.kind} ${s.reason}`).join('; ') || 'the archive is empty'}`, {
      hint: 'Configure a target for the stores in the archive (DATABASE_URL, UPLOADS_DIR) or choose them with --only.',
    });
  }
  return { archive, manifest, stores, skipped, request, ...(chain === undefined ? {} : { chain }) };
}
