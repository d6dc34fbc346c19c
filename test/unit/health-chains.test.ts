import { describe, expect, it } from 'vitest';
import { DEFAULT_THRESHOLDS, evaluateHealth, type HealthFacts } from '../../src/health/evaluate.js';

const NOW = new Date('2026-03-10T12:00:00Z');
const newest = { name: 'backup_20260310_020000.tar.gz', time: new Date('2026-03-10T02:00:00Z'), size: 600, gzipHeader: true, manifest: 'ok' as const, checksumSidecar: true, missing: [], verification: undefined, deepFindings: undefined };
const facts = (rest: Partial<HealthFacts>, delta: boolean): HealthFacts => ({ directory: '/srv/backups', count: 3, earlierSizes: [], freeBytes: 10e9, newest: { ...newest, delta }, ...rest });

describe('health of chains of deltas', () => {
  it('a small delta is no size warning; the same size for a full is', () => {
    expect(evaluateHealth(facts({}, true), DEFAULT_THRESHOLDS, NOW).checks.find((c) => c.name === 'size')?.status).toBe('OK');
    expect(evaluateHealth(facts({}, false), DEFAULT_THRESHOLDS, NOW).checks.find((c) => c.name === 'size')?.status).toBe('WARNING');
  });

  it('a delta whose base is missing is CRITICAL, naming the missing archive and every broken chain', () => {
    const result = evaluateHealth(facts({ brokenChains: [{ name: newest.name, missing: 'backup_20260309_020000.tar.gz' }, { name: 'backup_20260308_020000.tar.gz', missing: 'backup_20260307_020000.tar.gz' }] }, true), DEFAULT_THRESHOLDS, NOW);
    expect(result.exitCode).toBe(2);
    expect(result.summary).toBe(`FERRY CRITICAL - backup_20260309_020000.tar.gz is missing: ${newest.name} is a delta built on it and cannot be restored (and 1 more broken chain: backup_20260308_020000.tar.gz needs backup_20260307_020000.tar.gz)`);
  });
});
