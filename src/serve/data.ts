import { isFerryError } from '../errors/index.js';
import { anomalyRules, findAnomalies, HEALTH_STATUS, type Anomaly, type HealthResult, type MetricsInput, type StoreCounts } from '../health/index.js';
import type { BackupDetails } from '../ops/catalog.js';
import type { OperationContext } from '../ops/context.js';
import { healthWithMetrics } from '../ops/health.js';
import { inspect, type InspectResult } from '../ops/inspect.js';
import { list, type ListResult } from '../ops/list.js';
import { runTool } from '../process/index.js';

/**
 * What the dashboard shows, gathered through the same library calls as the CLI's list, health and
 * inspect: nothing here reads a backup in its own way.
 */

export interface LocationHealth {
  location: 'local' | 'remote';
  result: HealthResult;
  metrics: MetricsInput | undefined;
}

/** The monitoring check of one location, as `ferry health --quick [--remote]` runs it; UNKNOWN when it cannot run. */
export async function locationHealth(ctx: OperationContext, location: 'local' | 'remote', options: { quick: boolean }): Promise<LocationHealth> {
  try {
    const { result, metrics } = await healthWithMetrics(ctx, { quick: options.quick, remote: location === 'remote' });
    return { location, result, metrics };
  } catch (error) {
    if (!isFerryError(error)) throw error;
    const message = error.message;
    return {
      location,
      metrics: undefined,
      result: { status: 'UNKNOWN', exitCode: HEALTH_STATUS.UNKNOWN, summary: `FERRY UNKNOWN - ${message}`, checks: [{ name: 'presence', status: 'UNKNOWN', message, ...(error.hint === undefined ? {} : { recommendation: error.hint }) }] },
    };
  }
}

export function locations(ctx: OperationContext): Array<'local' | 'remote'> {
  return ctx.config.storage?.remote === undefined ? ['local'] : ['local', 'remote'];
}

/** The names at storage.remote, or undefined without a remote (or when it cannot be listed: shown as unknown). */
export async function remoteNames(ctx: OperationContext): Promise<Set<string> | undefined> {
  if (ctx.config.storage?.remote === undefined) return undefined;
  try {
    return new Set((await list(ctx, { remote: true })).backups.filter((b) => b.hasChecksum).map((b) => b.name));
  } catch (error) {
    if (isFerryError(error)) return undefined;
    throw error;
  }
}

function countsOf(backup: BackupDetails | undefined): StoreCounts | undefined {
  const manifest = backup?.manifest;
  return manifest === undefined ? undefined : Object.fromEntries(Object.entries(manifest.stores).map(([kind, store]) => [kind, store.counts]));
}

export interface CountChange {
  store: string;
  object: string;
  count: number;
  /** The count in the backup before this one, when it has a manifest and holds the object. */
  previous: number | undefined;
  anomaly: Anomaly | undefined;
}

export interface BackupDetail {
  inspected: InspectResult;
  details: BackupDetails;
  previous: string | undefined;
  changes: CountChange[];
  /** Objects most earlier backups hold and this one lacks: anomalies with no row of their own. */
  disappeared: Anomaly[];
}

/**
 * One backup with its counts against the backup before it, and its anomalies as ferry health defines
 * them: the median of the earlier backups (health.anomalies thresholds and per-object rules).
 */
export async function backupDetail(ctx: OperationContext, name: string, listed: ListResult): Promise<BackupDetail> {
  const inspected = await inspect(ctx, name);
  const index = listed.backups.findIndex((b) => b.path === inspected.archive);
  const details = listed.backups[index];
  const rules = anomalyRules(ctx.config.health?.anomalies);
  const earlier = index < 0 ? [] : listed.backups.slice(index + 1, index + 1 + rules.thresholds.previous);
  const earlierCounts = earlier.map(countsOf).filter((c): c is StoreCounts => c !== undefined);
  const counts: StoreCounts = Object.fromEntries(Object.entries(inspected.manifest.stores).map(([kind, store]) => [kind, store.counts]));
  const anomalies = findAnomalies(counts, earlierCounts, rules.thresholds, rules.ruleFor);
  const before = countsOf(earlier[0]);
  const changes: CountChange[] = [];
  for (const [store, objects] of Object.entries(counts)) {
    for (const [object, count] of Object.entries(objects)) {
      changes.push({ store, object, count, previous: before?.[store]?.[object], anomaly: anomalies.find((a) => a.store === store && a.object === object) });
    }
  }
  return {
    inspected,
    details: details ?? { name, path: inspected.archive, time: new Date(inspected.manifest.createdAt), size: inspected.size, hasChecksum: false, hasManifestSidecar: false, hasVerifySidecar: false, manifest: inspected.manifest, verification: undefined },
    previous: earlier[0]?.name,
    changes,
    disappeared: anomalies.filter((a) => a.disappeared),
  };
}

export interface TrendPoint {
  name: string;
  /** Seconds since the epoch, as the chart's x axis wants them. */
  time: number;
  size: number;
  durationSeconds: number | null;
  counts: StoreCounts;
  anomalies: Array<Pick<Anomaly, 'store' | 'object' | 'before' | 'after'>>;
}

/** Every backup oldest first, with the anomalies each had against the ones before it. */
export function trends(ctx: OperationContext, listed: ListResult): TrendPoint[] {
  const rules = anomalyRules(ctx.config.health?.anomalies);
  const newestFirst = listed.backups;
  const counts = newestFirst.map(countsOf);
  const points: TrendPoint[] = newestFirst.map((b, i) => {
    const own = counts[i];
    const earlier = counts.slice(i + 1).filter((c): c is StoreCounts => c !== undefined).slice(0, rules.thresholds.previous);
    return {
      name: b.name,
      time: Math.round(b.time.getTime() / 1000),
      size: b.size,
      durationSeconds: b.manifest?.durationSeconds ?? null,
      counts: own ?? {},
      anomalies: own === undefined ? [] : findAnomalies(own, earlier, rules.thresholds, rules.ruleFor).map(({ store, object, before, after }) => ({ store, object, before, after })),
    };
  });
  return points.reverse();
}

const TIMER = 'ferry-backup.timer';

/** When systemd will next start the backup, when its timer is installed here; undefined otherwise. */
export async function nextScheduledRun(signal: AbortSignal): Promise<{ timer: string; at: Date } | undefined> {
  try {
    const result = await runTool('systemctl', ['show', TIMER, '--property=NextElapseUSecRealtime', '--property=LoadState', '--timestamp=unix'], { signal });
    if (result.exitCode !== 0 || !/^LoadState=loaded$/m.test(result.stdout)) return undefined;
    const next = /^NextElapseUSecRealtime=@(\d+)$/m.exec(result.stdout);
    return next?.[1] === undefined ? undefined : { timer: TIMER, at: new Date(Number(next[1]) * 1000) };
  } catch (error) {
    if (signal.aborted) throw error;
    return undefined;
  }
}
