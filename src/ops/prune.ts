import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { sidecarNames } from '../archive/index.js';
import { planPrune, type PrunePlan, type RetentionPolicy } from '../retention/index.js';
import { detailedCatalog } from './catalog.js';
import type { OperationContext } from './context.js';
import { acquireLock } from './lock.js';

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
  plan: PrunePlan;
  removed: string[];
  /** Files in the backup directory that Ferry did not write; never touched. */
  foreign: string[];
  dryRun: boolean;
}

export async function planPruneFor(ctx: OperationContext, options: PruneOptions = {}): Promise<{ plan: PrunePlan; foreign: string[] }> {
  const { backups, foreign } = await detailedCatalog(ctx.config.backup.directory);
  const b = ctx.config.backup;
  const policy: RetentionPolicy = {
    keepDays: options.keepDays ?? b.retention_days,
    keepLast: options.keepLast ?? b.keep_last,
    keepDaily: options.keepDaily ?? b.keep_daily,
    keepWeekly: options.keepWeekly ?? b.keep_weekly,
    keepMonthly: options.keepMonthly ?? b.keep_monthly,
    keepYearly: options.keepYearly ?? b.keep_yearly,
  };
  const records = backups.map((backup) => ({ name: backup.name, time: backup.time, verified: backup.verification?.ok }));
  const plan = planPrune(records, policy, ctx.now?.() ?? new Date());
  return { plan, foreign };
}

/** Plans retention, then removes what the plan says (archive first, then its sidecars). */
export async function applyPrune(ctx: OperationContext, options: PruneOptions = {}): Promise<PruneResult> {
  const directory = ctx.config.backup.directory;
  const lock = options.lockHeld === true || options.dryRun === true ? undefined : await acquireLock(directory, 'prune');
  try {
    const { plan, foreign } = await planPruneFor(ctx, options);
    const removed: string[] = [];
    if (options.dryRun !== true) {
      for (const decision of plan.remove) {
        await rm(join(directory, decision.name), { force: true });
        for (const sidecar of sidecarNames(decision.name)) await rm(join(directory, sidecar), { force: true });
        removed.push(decision.name);
        ctx.log.info(`pruned ${decision.name} (${decision.reasons.join(', ')})`);
      }
    }
    return { plan, removed, foreign, dryRun: options.dryRun === true };
  } finally {
    await lock?.release();
  }
}
