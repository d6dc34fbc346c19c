/**
 * Retention as a pure function: which backups to keep and which to remove, each with its reason.
 * Applying the plan is a separate step (ops/prune).
 */
export interface BackupRecord {
  name: string;
  time: Date;
}

export interface RetentionPolicy {
  /** Keep backups younger than this many days; 0 keeps everything. */
  keepDays: number;
}

export interface PruneDecision {
  name: string;
  time: Date;
  reasons: string[];
}

export interface PrunePlan {
  keep: PruneDecision[];
  remove: PruneDecision[];
}

const DAY_MS = 86_400_000;

export function planPrune(backups: readonly BackupRecord[], policy: RetentionPolicy, now: Date): PrunePlan {
  const sorted = [...backups].sort((a, b) => b.time.getTime() - a.time.getTime());
  const plan: PrunePlan = { keep: [], remove: [] };
  sorted.forEach((backup, index) => {
    const reasons: string[] = [];
    if (index === 0) reasons.push('newest backup');
    if (policy.keepDays === 0) reasons.push('retention disabled (keep-days 0)');
    else if (now.getTime() - backup.time.getTime() < policy.keepDays * DAY_MS) reasons.push(`within ${policy.keepDays} days`);
    if (reasons.length > 0) plan.keep.push({ ...backup, reasons });
    else plan.remove.push({ ...backup, reasons: [`older than ${policy.keepDays} days`] });
  });
  return plan;
}
