/**
 * Retention as a pure function: which backups to keep and which to remove, each with its reasons.
 * Applying the plan is a separate step (ops/prune). The keep-last/-hourly/-daily/-weekly/-monthly/
 * -yearly rules follow restic's `forget` semantics, on UTC calendar periods.
 */
export interface BackupRecord {
  name: string;
  time: Date;
  /** True when a verification of this backup succeeded, false when one failed, undefined when never verified. */
  verified?: boolean | undefined;
  /** A reason to keep it whatever the rules say (the last normal backup before a data anomaly). */
  keptBecause?: string | undefined;
  /** The backup this one is a delta on: restoring it needs that one, so that one stays while it does. */
  base?: string | undefined;
}

export interface RetentionPolicy {
  /** Keep backups younger than this many days (BACKUP_RETENTION_DAYS); 0 turns the age rule off. */
  keepDays: number;
  keepLast?: number;
  keepHourly?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepYearly?: number;
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

function isoWeek(date: Date): number {
  const d = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()));
  const day = d.getUTCDay() || 7;
  d.setUTCDate(d.getUTCDate() + 4 - day);
  const yearStart = Date.UTC(d.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((d.getTime() - yearStart) / DAY_MS + 1) / 7);
  return d.getUTCFullYear() * 100 + week;
}

type Bucketer = (time: Date, index: number) => number;

const RULES: Array<{ key: keyof RetentionPolicy; label: string; bucket: Bucketer }> = [
  { key: 'keepLast', label: 'last', bucket: (_t, index) => index },
  { key: 'keepHourly', label: 'hourly', bucket: (t) => ((t.getUTCFullYear() * 100 + t.getUTCMonth() + 1) * 100 + t.getUTCDate()) * 100 + t.getUTCHours() },
  { key: 'keepDaily', label: 'daily', bucket: (t) => (t.getUTCFullYear() * 100 + t.getUTCMonth() + 1) * 100 + t.getUTCDate() },
  { key: 'keepWeekly', label: 'weekly', bucket: (t) => isoWeek(t) },
  { key: 'keepMonthly', label: 'monthly', bucket: (t) => t.getUTCFullYear() * 100 + t.getUTCMonth() + 1 },
  { key: 'keepYearly', label: 'yearly', bucket: (t) => t.getUTCFullYear() },
];

export function isEmptyPolicy(policy: RetentionPolicy): boolean {
  return policy.keepDays <= 0 && RULES.every((r) => (policy[r.key] ?? 0) === 0);
}

export function planPrune(backups: readonly BackupRecord[], policy: RetentionPolicy, now: Date): PrunePlan {
  const sorted = [...backups].sort((a, b) => b.time.getTime() - a.time.getTime());
  const plan: PrunePlan = { keep: [], remove: [] };
  const empty = isEmptyPolicy(policy);
  const newestVerified = sorted.find((b) => b.verified === true);
  const counters = RULES.map((rule) => ({ ...rule, left: policy[rule.key] ?? 0, last: Number.NaN }));
  sorted.forEach((backup, index) => {
    const reasons: string[] = [];
    if (index === 0) reasons.push('newest backup');
    if (backup === newestVerified && index !== 0) reasons.push('newest verified backup');
    if (backup.keptBecause !== undefined) reasons.push(backup.keptBecause);
    if (empty) reasons.push('no retention policy');
    if (policy.keepDays > 0 && now.getTime() - backup.time.getTime() < policy.keepDays * DAY_MS) reasons.push(`within ${policy.keepDays} days`);
    const oldest = index === sorted.length - 1;
    for (const counter of counters) {
      if (counter.left === 0) continue;
      const bucket = counter.bucket(backup.time, index);
      // As restic does, the oldest backup is also kept while a rule still has room: the longest history.
      if (bucket !== counter.last || oldest) {
        reasons.push(`${bucket === counter.last ? 'oldest ' : ''}${counter.label} backup`);
        counter.last = bucket;
        if (counter.left > 0) counter.left--;
      }
    }
    if (reasons.length > 0) plan.keep.push({ name: backup.name, time: backup.time, reasons });
    else plan.remove.push({ name: backup.name, time: backup.time, reasons: [removalReason(policy)] });
  });
  keepBases(plan, new Map(sorted.map((b) => [b.name, b.base])));
  return plan;
}

/** Every base a kept delta needs is kept too, down to the chain's full, whatever the rules said of it. */
function keepBases(plan: PrunePlan, bases: ReadonlyMap<string, string | undefined>): void {
  const pending = [...plan.keep];
  for (let kept = pending.pop(); kept !== undefined; kept = pending.pop()) {
    const base = bases.get(kept.name);
    const at = base === undefined ? -1 : plan.remove.findIndex((d) => d.name === base);
    if (at < 0) continue;
    const [rescued] = plan.remove.splice(at, 1) as [PruneDecision];
    const decision = { name: rescued.name, time: rescued.time, reasons: [`base of ${kept.name}, which is kept (a delta is restored on top of it)`] };
    plan.keep.push(decision);
    pending.push(decision);
  }
  plan.keep.sort((a, b) => b.time.getTime() - a.time.getTime());
}

function removalReason(policy: RetentionPolicy): string {
  const rules = [
    ...(policy.keepDays > 0 ? [`older than ${policy.keepDays} days`] : []),
    ...RULES.filter((r) => (policy[r.key] ?? 0) !== 0).map((r) => `beyond keep-${r.label} ${policy[r.key] === -1 ? 'unlimited' : policy[r.key]}`),
  ];
  return rules.join(', ');
}
