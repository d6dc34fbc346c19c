import { FerryError } from '../../errors/index.js';
import { storesFromConfig, type KeptCopy, type RestoreOptions, type Store, type StoreContext, type StoreKind } from '../../stores/index.js';
import type { OperationContext } from '../context.js';
import { guardTargetHosts } from './guard.js';

export interface KeptCopiesRequest {
  only?: StoreKind[];
  toDatabase?: string;
  disconnect?: boolean;
  allowRemote?: boolean;
}

export interface StoreKeptCopies {
  kind: StoreKind;
  target: string;
  copies: KeptCopy[];
}

function selectedStores(ctx: OperationContext, request: KeptCopiesRequest): Store[] {
  const stores = storesFromConfig(ctx.config).filter((s) => request.only === undefined || request.only.includes(s.kind));
  if (stores.length === 0) {
    throw new FerryError('NO_STORES', 'no store is configured', { hint: 'Set DATABASE_URL, MONGODB_URL or UPLOADS_DIR (or a config file) to the targets restores replaced.' });
  }
  guardTargetHosts(stores, { allowRemote: request.allowRemote === true });
  return stores;
}

function optionsOf(request: KeptCopiesRequest): RestoreOptions {
  return { ...(request.toDatabase === undefined ? {} : { toDatabase: request.toDatabase }), disconnect: request.disconnect === true };
}

/** What restores kept beside each configured target: the previous copies (undo) and the pristine ones (reset). */
export async function keptCopies(ctx: OperationContext, request: KeptCopiesRequest, storeCtx: StoreContext): Promise<StoreKeptCopies[]> {
  const result: StoreKeptCopies[] = [];
  for (const store of selectedStores(ctx, request)) {
    if (store.keptCopies === undefined) continue;
    result.push({ kind: store.kind, target: store.describe(optionsOf(request)), copies: await store.keptCopies(optionsOf(request), storeCtx) });
  }
  return result;
}

export interface KeptCopyAction {
  kind: StoreKind;
  summary: string;
}

/** Undo or reset with no copy of that role kept for any selected target. */
export function nothingKept(role: KeptCopy['role']): FerryError {
  return role === 'previous'
    ? new FerryError('NOTHING_TO_UNDO', 'no restore kept a previous copy of any configured target', { hint: 'Undo brings back what the last restore replaced (after a restore with --to-db, pass the same --to-db); ferry list shows kept copies. Nothing was changed.' })
    : new FerryError('NOTHING_TO_RESET', 'no pristine copy is kept for any configured target', { hint: 'Set restore.keep_pristine: true and restore once (ferry restore --drop-previous removes the pristine copy too); then ferry reset brings that state back. Nothing was changed.' });
}

/**
 * `ferry restore --undo` and `ferry reset`: every store that kept a copy of that role swaps it in.
 * Refused when no store has one; a store without one is left alone and said so.
 */
export async function swapInKept(ctx: OperationContext, role: KeptCopy['role'], request: KeptCopiesRequest, storeCtx: StoreContext): Promise<KeptCopyAction[]> {
  const stores = selectedStores(ctx, request);
  const withCopy: Store[] = [];
  for (const store of stores) {
    const copies = await store.keptCopies?.(optionsOf(request), storeCtx);
    if (copies?.some((c) => c.role === role) === true) withCopy.push(store);
  }
  if (withCopy.length === 0) throw nothingKept(role);
  const actions: KeptCopyAction[] = [];
  for (const store of stores) {
    if (!withCopy.includes(store)) {
      actions.push({ kind: store.kind, summary: `no ${role} copy kept: left as it is` });
      continue;
    }
    const swap = role === 'previous' ? store.undo : store.reset;
    if (swap === undefined) continue;
    actions.push({ kind: store.kind, summary: await swap.call(store, optionsOf(request), storeCtx) });
  }
  return actions;
}

/** `ferry restore --drop-previous`: frees the space the kept copies take. */
export async function dropKeptCopies(ctx: OperationContext, roles: Array<KeptCopy['role']>, request: KeptCopiesRequest, storeCtx: StoreContext): Promise<KeptCopyAction[]> {
  const actions: KeptCopyAction[] = [];
  for (const store of selectedStores(ctx, request)) {
    if (store.dropKept === undefined) continue;
    const dropped = await store.dropKept(roles, optionsOf(request), storeCtx);
    actions.push({ kind: store.kind, summary: dropped.length === 0 ? 'nothing kept' : `removed ${dropped.join(', ')}` });
  }
  return actions;
}
