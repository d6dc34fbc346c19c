import { throwIfAborted } from '../errors/index.js';
import type { Repository } from '../repository/index.js';
import { planPrune, type PrunePlan, type RetentionPolicy } from '../retention/index.js';
import { detailedCatalog, type BackupDetails } from './catalog.js';
import { baseOf } from './chain.js';
import { anomalyRules, findAnomalies, type AnomalyRules, type StoreCounts } from '../health/index.js';
import type { OperationContext } from './context.js';
import { withRepository } from './remote.js';

export interface PruneOptions {
  dryRun?: boolean;
  /** Overrides backup.retention_days. */
  keepDays?: number;
  keepLast?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepYearly?: number;
  /** Set by backup, which already holds the directory lock. */
  lockHeld?: boolean;
}

export interface PruneResult {
  /** The backup directory, or the remote's s3:// URL. */
  location: string;
  plan: PrunePlan;
  removed: string[];
  /** Files Ferry did not write; never touched. */
  foreign: string[];
  dryRun: boolean;
}

/** The configured retention, with the command line's overrides. */
export function retentionPolicy(ctx: OperationContext, options: PruneOptions = {}): RetentionPolicy {
  const b = ctx.config.backup;
  return {
    keepDays: options.keepDays ?? b.retention_days,
    keepLast: options.keepLast ?? b.keep_last,
    keepDaily: options.keepDaily ?? b.keep_daily,
    keepWeekly: options.keepWeekly ?? b.keep_weekly,
    keepMonthly: options.keepMonthly ?? b.keep_monthly,
    keepYearly: options.keepYearly ?? b.keep_yearly,
  };
}

/**
 * Retention over a repository's backups. Verified means a .verify.json says so of a backup that has
 * its .sha256 sidecar (or is the old scripts', which has none): a backup missing it is incomplete.
 * Kept whatever the rules say: the last normal backup before a drop in counts, and the bases of kept deltas.
 */
export async function planPruneFor(ctx: OperationContext, repository: Repository, options: PruneOptions = {}): Promise<{ plan: PrunePlan; foreign: string[] }> {
  const { backups, foreign } = await detailedCatalog(repository);
  const protectedBackups = lastNormalBeforeAnomalies(backups, anomalyRules(ctx.config.health?.anomalies));
  const records = backups.map((backup) => ({
    name: backup.name,
    time: backup.time,
    verified: backup.hasChecksum || backup.verification?.oldScripts === true ? backup.verification?.ok : false,
    keptBecause: protectedBackups.get(backup.name),
    base: baseName(backup),
  }));
  return { plan: planPrune(records, retentionPolicy(ctx, options), ctx.now?.() ?? new Date()), foreign };
}

/**
 * A backup whose counts dropped sharply against the ones before it (health's anomaly rule) makes
 * the backup just before it "the last normal one": kept whatever the rules say, so a DELETE without
 * WHERE noticed a week late still has a good backup to go back to. The same rules as health, so a
 * table expected to shrink keeps nothing.
 */
function lastNormalBeforeAnomalies(backups: BackupDetails[], rules: AnomalyRules): Map<string, string> {
  const counts = backups.map((b) => (b.manifest === undefined ? undefined : Object.fromEntries(Object.entries(b.manifest.stores).map(([kind, store]) => [kind, store.counts]))));
  const kept = new Map<string, string>();
  backups.forEach((backup, index) => {
    const mine = counts[index];
    const before = backups[index + 1];
    if (mine === undefined || before === undefined) return;
    const earlier = counts.slice(index + 1, index + 1 + rules.thresholds.previous).filter((c): c is StoreCounts => c !== undefined);
    const [first, ...more] = findAnomalies(mine, earlier, rules.thresholds, rules.ruleFor);
    if (first === undefined || kept.has(before.name)) return;
    kept.set(before.name, `last normal backup before ${backup.name} (${first.store} ${first.object}: ${first.before} → ${first.after}${more.length > 0 ? `, and ${more.length} more` : ''})`);
  });
  return kept;
}

function baseName(backup: BackupDetails): string | undefined {
  return backup.manifest === undefined ? undefined : baseOf(backup.manifest)?.name;
}

/** `ferry prune [--remote]`: the backup directory, or with `remote` the copies at storage.remote. */
export async function applyPrune(ctx: OperationContext, options: PruneOptions & { remote?: boolean } = {}): Promise<PruneResult> {
  return withRepository(ctx, options, (repository) => pruneRepository(ctx, repository, options));
}

/**
 * Plans retention, then removes what the plan says, each backup .sha256 sidecar first (see
 * Repository.remove), under the repository's lock unless the caller (backup) holds it.
 */
export async function pruneRepository(ctx: OperationContext, repository: Repository, options: PruneOptions = {}): Promise<PruneResult> {
  const lock = options.lockHeld === true || options.dryRun === true ? undefined : await repository.lock('prune');
  try {
    const { plan, foreign } = await planPruneFor(ctx, repository, options);
    const removed: string[] = [];
    if (options.dryRun !== true) {
      for (const decision of plan.remove) {
        throwIfAborted(ctx.signal);
        await repository.remove(decision.name);
        removed.push(decision.name);
        ctx.log.info(`pruned ${repository.pathOf(decision.name)} (${decision.reasons.join(', ')})`);
      }
    }
    return { location: repository.where, plan, removed, foreign, dryRun: options.dryRun === true };
  } finally {
    await lock?.release();
  }
}
