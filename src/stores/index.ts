export type { Store, StagedDump, DatabaseCheck, DatabaseInit, StoreKind, StoreContext, ContentChecker, ContentCheckContext, ContentCheckResult, Logger, ProgressReporter, PreflightReport, RestoreOptions, RestoreStaging, RestoreTarget, StoreRestoreResult, ObjectCount, MaskSettings, MaskedObjectStats, KeptCopy, SourceFields, FingerprintFields, ChainBase, ChainList } from './store.js';
export { silentProgress } from './store.js';
export { storesFromConfig, STORE_KINDS, CONTENT_CHECKERS, readStoreIdentity } from './registry.js';
