export { planPrune, isEmptyPolicy, type BackupRecord, type RetentionPolicy, type PrunePlan, type PruneDecision } from './policy.js';
