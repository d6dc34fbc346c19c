import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { sidecarNames } from '../archive/index.js';
import { throwIfAborted } from '../errors/index.js';
import { planPrune, type PrunePlan, type RetentionPolicy } from '../retention/index.js';
import { detailedCatalog, type BackupDetails } from './catalog.js';
import { baseOf } from './chain.js';
import { anomalyRules, findAnomalies, type AnomalyRules, type StoreCounts } from '../health/index.js';
import type { OperationContext } from './context.js';
import type { RemoteStore } from '../remote/index.js';
import { acquireLock } from './lock.js';
import { remoteDetailedCatalog, withRemote } from './remote.js';

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

export async function planPruneFor(ctx: OperationContext, options: PruneOptions = {}): Promise<{ plan: PrunePlan; foreign: string[] }> {
  const { backups, foreign } = await detailedCatalog(ctx.config.backup.directory);
  const protectedBackups = lastNormalBeforeAnomalies(backups, anomalyRules(ctx.config.health?.anomalies));
  const records = backups.map((backup) => ({ name: backup.name, time: backup.time, verified: backup.verification?.ok, keptBecause: protectedBackups.get(backup.name), base: baseName(backup) }));
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
    return { location: directory, plan, removed, foreign, dryRun: options.dryRun === true };
  } finally {
    await lock?.release();
  }
}

/**
 * The same retention on the remote copies. Verified means the .verify.json uploaded with the
 * backup says so; the newest and the newest verified are never removed. The .sha256 sidecar goes
 * first, so an interrupted prune leaves an incomplete backup, never one that looks whole.
 */
export async function applyRemotePrune(ctx: OperationContext, options: PruneOptions = {}): Promise<PruneResult> {
  return withRemote(ctx, (remote) => applyRemotePruneWith(ctx, remote, options));
}

export async function applyRemotePruneWith(ctx: OperationContext, remote: RemoteStore, options: PruneOptions = {}): Promise<PruneResult> {
  const { backups, foreign } = await remoteDetailedCatalog(remote, ctx.signal);
  const records = backups.map((b) => ({ name: b.name, time: b.time, verified: b.hasChecksum ? b.verification?.ok : false, base: baseName(b) }));
  const plan = planPrune(records, retentionPolicy(ctx, options), ctx.now?.() ?? new Date());
  const removed: string[] = [];
  if (options.dryRun !== true) {
    for (const decision of plan.remove) {
      throwIfAborted(ctx.signal);
      const [checksum, ...others] = sidecarNames(decision.name) as [string, ...string[]];
      await remote.remove(checksum, ctx.signal);
      await remote.remove(decision.name, ctx.signal);
      for (const sidecar of others) await remote.remove(sidecar, ctx.signal);
      removed.push(decision.name);
      ctx.log.info(`pruned ${remote.urlOf(decision.name)} (${decision.reasons.join(', ')})`);
    }
  }
  return { location: remote.url, plan, removed, foreign, dryRun: options.dryRun === true };
}
