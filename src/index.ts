/** Ferry's library API: every CLI command is a thin shell over these functions. */
export { backup, type BackupOptions, type BackupResult } from './ops/backup.js';
export { planRestore, guardRestore, applyRestore, keptCopies, swapInKept, dropKeptCopies, type RestorePlan, type RestoreRequest, type RestoreResult, type KeptCopiesRequest, type StoreKeptCopies } from './ops/restore/index.js';
export { list, type ListResult } from './ops/list.js';
export { inspect, type InspectResult } from './ops/inspect.js';
export { applyPrune, planPruneFor, type PruneOptions, type PruneResult } from './ops/prune.js';
export { catalog, detailedCatalog, withDetails, locateArchive, manifestOf, type BackupSummary, type BackupDetails } from './ops/catalog.js';
export { verify, verifyArchive, type VerifyReport, type VerifyFinding } from './ops/verify.js';
export { health, type HealthOptions } from './ops/health.js';
export { evaluateHealth, renderMetrics, type HealthResult, type HealthThresholds } from './health/index.js';
export { silentLogger, silentProgress, type OperationContext } from './ops/context.js';
export { loadConfig, Redactor, type FerryConfig, type LoadedConfig } from './config/index.js';
export { FerryError, isFerryError, ERROR_CODES, EXIT, type ErrorCode } from './errors/index.js';
export { planPrune, type RetentionPolicy, type PrunePlan } from './retention/index.js';
export type { Manifest, StoreManifest, ManifestEntry } from './archive/index.js';
export type { Logger, ProgressReporter, StoreKind } from './stores/index.js';
export { FERRY_VERSION } from './version.js';
