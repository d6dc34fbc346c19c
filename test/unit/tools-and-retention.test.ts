import { describe, expect, it } from 'vitest';
import { planPrune } from '../../src/retention/policy.js';
import { parseToolVersion } from '../../src/stores/postgres/tools.js';
import { archiveNameFor, timeOfArchiveName } from '../../src/archive/naming.js';

describe('pg tool versions', () => {
  it('parses the version lines real tools print', () => {
    expect(parseToolVersion('pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)')).toEqual({ version: '15.18', major: 15 });
    expect(parseToolVersion('pg_dump (PostgreSQL) 17.2 (Homebrew)')).toEqual({ version: '17.2', major: 17 });
    expect(parseToolVersion('pg_dump (PostgreSQL) 9.6.24')).toEqual({ version: '9.6.24', major: 9 });
    expect(parseToolVersion('pg_dump (PostgreSQL) 18beta1')).toEqual({ version: '18.0', major: 18 });
    expect(parseToolVersion('bash: pg_dump: command not found')).toBeUndefined();
  });
});

describe('archive names', () => {
  it('round-trips UTC timestamps and rejects other names', () => {
    const when = new Date('2025-10-28T14:30:22Z');
    expect(archiveNameFor(when)).toBe('backup_20251028_143022.tar.gz');
    expect(timeOfArchiveName('backup_20251028_143022.tar.gz')).toEqual(when);
    expect(timeOfArchiveName('backup_latest.tar.gz')).toBeUndefined();
    expect(timeOfArchiveName('backup_20251028_143022.tar.gz.partial')).toBeUndefined();
  });
});

describe('retention plan', () => {
  const now = new Date('2026-01-10T12:00:00Z');
  const at = (iso: string) => ({ name: iso, time: new Date(iso) });

  it('keeps what is younger than keep-days and the newest, removes the rest with reasons', () => {
    const plan = planPrune([at('2026-01-09T02:00:00Z'), at('2025-12-01T02:00:00Z'), at('2026-01-04T02:00:00Z')], { keepDays: 7 }, now);
    expect(plan.keep.map((d) => [d.name, d.reasons])).toEqual([
      ['2026-01-09T02:00:00Z', ['newest backup', 'within 7 days']],
      ['2026-01-04T02:00:00Z', ['within 7 days']],
    ]);
    expect(plan.remove.map((d) => [d.name, d.reasons])).toEqual([['2025-12-01T02:00:00Z', ['older than 7 days']]]);
  });

  it('never removes the newest, however old, and keeps everything at keep-days 0', () => {
    expect(planPrune([at('2020-01-01T00:00:00Z')], { keepDays: 7 }, now).remove).toEqual([]);
    expect(planPrune([at('2020-01-01T00:00:00Z'), at('2019-01-01T00:00:00Z')], { keepDays: 0 }, now).remove).toEqual([]);
  });
});
