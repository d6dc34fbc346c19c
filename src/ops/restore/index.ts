export { planRestore, type RestorePlan, type RestoreRequest, type PlannedStore } from './plan.js';
export { guardRestore } from './guard.js';
export { applyRestore, type RestoreResult, type StoreRestoreReport } from './apply.js';
export { keptCopies, swapInKept, dropKeptCopies, nothingKept, type KeptCopiesRequest, type StoreKeptCopies, type KeptCopyAction } from './kept.js';
