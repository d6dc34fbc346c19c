import { describe, expect, it } from 'vitest';
import { DEFAULT_THRESHOLDS, evaluateHealth, type HealthFacts } from '../../src/health/evaluate.js';
import { mergeMetrics, renderMetrics } from '../../src/health/metrics.js';
import { parsePrometheusText } from '../support/prometheus.js';

const NOW = new Date('2026-03-10T12:00:00Z');
const hoursAgo = (h: number) => new Date(NOW.getTime() - h * 3_600_000);

function facts(overrides: Partial<NonNullable<HealthFacts['newest']>> = {}, rest: Partial<HealthFacts> = {}): HealthFacts {
  return {
    directory: '/srv/backups',
    count: 5,
    earlierSizes: [400e6, 410e6, 405e6, 398e6],
    freeBytes: 10e9,
    newest: { name: 'backup_20260310_020000.tar.gz', time: hoursAgo(3), size: 412e6, gzipHeader: true, manifest: 'ok', checksumSidecar: true, missing: [], verification: { checkedAt: hoursAgo(3).toISOString(), ok: true }, deepFindings: undefined, ...overrides },
    ...rest,
  };
}

describe('health evaluation (monitoring-plugins semantics)', () => {
  it('OK with the one-line summary monitoring shows', () => {
    const result = evaluateHealth(facts(), DEFAULT_THRESHOLDS, NOW);
    expect(result.summary).toBe('FERRY OK - last backup 3 h ago, 412 MB, verified');
    expect(result.exitCode).toBe(0);
  });
  it('age: WARNING past max-age, CRITICAL past critical-age', () => {
    expect(evaluateHealth(facts({ time: hoursAgo(30) }), DEFAULT_THRESHOLDS, NOW).summary).toBe('FERRY WARNING - last backup 30 h ago, over 26 h');
    expect(evaluateHealth(facts({ time: hoursAgo(72) }), DEFAULT_THRESHOLDS, NOW).exitCode).toBe(2);
  });
  it('size: WARNING under half the median of recent backups, or under the minimum', () => {
    const small = evaluateHealth(facts({ size: 150e6 }), DEFAULT_THRESHOLDS, NOW);
    expect(small.exitCode).toBe(1);
    expect(small.checks.find((c) => c.name === 'size')?.message).toMatch(/under 50% of the median 403 MB/);
    expect(evaluateHealth(facts({ size: 3000 }, { earlierSizes: [] }), { ...DEFAULT_THRESHOLDS, minSizeBytes: 1e6 }, NOW).exitCode).toBe(1);
  });
  it('integrity: a remote backup without its .sha256 is an upload that did not finish, and ferry push is the fix', () => {
    const local = evaluateHealth(facts({ checksumSidecar: false }), DEFAULT_THRESHOLDS, NOW).checks.find((c) => c.name === 'integrity');
    expect(local?.recommendation).toBe('Run ferry health --deep (or ferry verify latest) to check the archive itself.');
    const remote = evaluateHealth(facts({ checksumSidecar: false }, { location: 'remote' }), DEFAULT_THRESHOLDS, NOW).checks.find((c) => c.name === 'integrity');
    expect(remote).toMatchObject({ status: 'WARNING', message: 'backup_20260310_020000.tar.gz has no checksum sidecar: its upload did not finish' });
    expect(remote?.recommendation).toBe('Run ferry push on the server: it uploads what the remote lacks, .sha256 last.');
  });
  it('space: WARNING under the margin, CRITICAL under one backup', () => {
    expect(evaluateHealth(facts({}, { freeBytes: 500e6 }), DEFAULT_THRESHOLDS, NOW).exitCode).toBe(1);
    const critical = evaluateHealth(facts({}, { freeBytes: 100e6 }), DEFAULT_THRESHOLDS, NOW);
    expect(critical.exitCode).toBe(2);
    expect(critical.checks.find((c) => c.name === 'space')?.recommendation).toMatch(/next backup will fail/);
  });
  it('integrity and contents: CRITICAL on a failed verify, a bad header, deep findings or a missing store', () => {
    expect(evaluateHealth(facts({ verification: { checkedAt: 'x', ok: false } }), DEFAULT_THRESHOLDS, NOW).exitCode).toBe(2);
    expect(evaluateHealth(facts({ gzipHeader: false }), DEFAULT_THRESHOLDS, NOW).exitCode).toBe(2);
    expect(evaluateHealth(facts({ deepFindings: ['entry x does not match its checksum'] }), DEFAULT_THRESHOLDS, NOW).summary).toMatch(/^FERRY CRITICAL - .* is not whole: entry x/);
    expect(evaluateHealth(facts({ missing: ['mongo (configured here)'] }), DEFAULT_THRESHOLDS, NOW).summary).toBe('FERRY CRITICAL - newest backup lacks mongo (configured here)');
    expect(evaluateHealth(facts({ manifest: 'missing' }), DEFAULT_THRESHOLDS, NOW).exitCode).toBe(1);
  });
  it('no backup at all is CRITICAL', () => {
    expect(evaluateHealth(facts({}, { newest: undefined, count: 0 }), DEFAULT_THRESHOLDS, NOW).summary).toBe('FERRY CRITICAL - no backup in /srv/backups');
  });
});

describe('Prometheus metrics', () => {
  it('renders valid text format with conventional names', () => {
    const text = renderMetrics({
      location: 'local',
      backups: 3,
      newest: { time: hoursAgo(1), size: 1234, durationSeconds: 2.5, stores: { postgres: { items: 100, bytes: 900 }, 'odd"name': { items: 1, bytes: 2 } } },
      lastVerifiedAt: hoursAgo(1),
      healthStatus: 0,
      lastRun: { at: NOW, success: true },
    });
    const samples = parsePrometheusText(text);
    expect(samples.get('ferry_backup_last_size_bytes{location="local"}')).toBe(1234);
    expect(samples.get('ferry_backup_store_items{location="local",store="postgres"}')).toBe(100);
    expect(samples.get('ferry_backup_store_items{location="local",store="odd\\"name"}')).toBe(1);
    expect(samples.get('ferry_backup_last_run_success{location="local"}')).toBe(1);
    expect(samples.get('ferry_backup_last_success_timestamp_seconds{location="local"}')).toBe(Math.round(hoursAgo(1).getTime() / 1000));
  });

  it('merging keeps the other command\'s families, another location\'s samples and foreign lines; replaces its own', () => {
    const base = { backups: 2, newest: undefined, lastVerifiedAt: undefined } as const;
    const afterBackup = mergeMetrics('# HELP other_metric Someone else.\n# TYPE other_metric gauge\nother_metric 7\n', 'backup', { ...base, location: 'local', healthStatus: undefined, lastRun: { at: NOW, success: false } });
    const remote = mergeMetrics(afterBackup, 'health', { ...base, location: 'remote', backups: 5, healthStatus: 2, lastRun: undefined });
    const merged = parsePrometheusText(mergeMetrics(remote, 'health', { ...base, location: 'local', backups: 3, healthStatus: 0, lastRun: undefined }));
    expect(merged.get('other_metric')).toBe(7);
    expect(merged.get('ferry_backup_last_run_success{location="local"}')).toBe(0);
    expect(merged.get('ferry_health_status{location="local"}')).toBe(0);
    expect(merged.get('ferry_health_status{location="remote"}')).toBe(2);
    expect(merged.get('ferry_backup_archives{location="local"}')).toBe(3);
    expect(merged.get('ferry_backup_archives{location="remote"}')).toBe(5);
    const again = parsePrometheusText(mergeMetrics(remote, 'backup', { ...base, location: 'local', healthStatus: undefined, lastRun: { at: NOW, success: true } }));
    expect(again.get('ferry_backup_last_run_success{location="local"}')).toBe(1);
    expect(again.get('ferry_health_status{location="remote"}')).toBe(2);
  });
});
