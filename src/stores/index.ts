export type { Store, StoreKind, StoreContext, Logger, ProgressReporter, PreflightReport, RestoreOptions, RestoreStaging, RestoreTarget, StoreRestoreResult, ObjectCount } from './store.js';
export { storesFromConfig, STORE_KINDS } from './registry.js';
