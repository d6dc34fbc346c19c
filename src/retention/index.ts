export { planPrune, type BackupRecord, type RetentionPolicy, type PrunePlan, type PruneDecision } from './policy.js';
