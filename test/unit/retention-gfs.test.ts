import { describe, expect, it } from 'vitest';
import { planPrune, type RetentionPolicy } from '../../src/retention/policy.js';

/**
 * The snapshot times of restic's own policy tests (internal/data/snapshot_policy_test.go), with the
 * kept sets its golden files record for the same policies: Ferry's rules must agree with restic's.
 */
const RESTIC_TIMES = [
  '2014-09-01 10:20:30', '2014-09-02 10:20:30', '2014-09-05 10:20:30', '2014-09-06 10:20:30',
  '2014-09-08 10:20:30', '2014-09-09 10:20:30', '2014-09-10 10:20:30', '2014-09-11 10:20:30',
  '2014-09-20 10:20:30', '2014-09-22 10:20:30', '2014-08-08 10:20:30', '2014-08-10 10:20:30',
  '2014-08-12 10:20:30', '2014-08-13 10:20:30', '2014-08-13 10:20:30.1', '2014-08-15 10:20:30',
  '2014-08-18 10:20:30', '2014-08-20 10:20:30', '2014-08-21 10:20:30', '2014-08-22 10:20:30',
  '2014-10-01 10:20:30', '2014-10-02 10:20:30', '2014-10-05 10:20:30', '2014-10-06 10:20:30',
  '2014-10-08 10:20:30', '2014-10-09 10:20:30', '2014-10-10 10:20:30', '2014-10-11 10:20:30',
  '2014-10-20 10:20:30', '2014-10-22 10:20:30', '2014-11-08 10:20:30', '2014-11-10 10:20:30',
  '2014-11-12 10:20:30', '2014-11-13 10:20:30', '2014-11-13 10:20:30.1', '2014-11-15 10:20:30',
  '2014-11-18 10:20:30', '2014-11-20 10:20:30', '2014-11-21 10:20:30', '2014-11-22 10:20:30',
  '2015-09-01 10:20:30', '2015-09-02 10:20:30', '2015-09-05 10:20:30', '2015-09-06 10:20:30',
  '2015-09-08 10:20:30', '2015-09-09 10:20:30', '2015-09-10 10:20:30', '2015-09-11 10:20:30',
  '2015-09-20 10:20:30', '2015-09-22 10:20:30', '2015-08-08 10:20:30', '2015-08-10 10:20:30',
  '2015-08-12 10:20:30', '2015-08-13 10:20:30', '2015-08-13 10:20:30.1', '2015-08-15 10:20:30',
  '2015-08-18 10:20:30', '2015-08-20 10:20:30', '2015-08-21 10:20:30', '2015-08-22 10:20:30',
  '2015-10-01 10:20:30', '2015-10-02 10:20:30', '2015-10-05 10:20:30', '2015-10-06 10:20:30',
  '2015-10-08 10:20:30', '2015-10-09 10:20:30', '2015-10-10 10:20:30', '2015-10-11 10:20:30',
  '2015-10-20 10:20:30', '2015-10-22 10:20:30', '2015-10-22 10:20:30', '2015-10-22 10:20:30',
  '2015-10-22 10:20:30', '2015-10-22 10:20:30', '2015-11-08 10:20:30', '2015-11-10 10:20:30',
  '2015-11-12 10:20:30', '2015-11-13 10:20:30', '2015-11-13 10:20:30.1', '2015-11-15 10:20:30',
  '2015-11-18 10:20:30', '2015-11-20 10:20:30', '2015-11-21 10:20:30', '2015-11-22 10:20:30',
  '2016-01-01 01:02:03', '2016-01-01 01:03:03', '2016-01-01 07:08:03', '2016-01-03 07:02:03',
  '2016-01-04 10:23:03', '2016-01-04 11:23:03', '2016-01-04 12:23:03', '2016-01-04 12:24:03',
  '2016-01-04 12:28:03', '2016-01-04 12:30:03', '2016-01-04 16:23:03', '2016-01-05 09:02:03',
  '2016-01-06 08:02:03', '2016-01-07 10:02:03', '2016-01-08 20:02:03', '2016-01-09 21:02:03',
  '2016-01-12 21:02:03', '2016-01-12 21:08:03', '2016-01-18 12:02:03',
];

const backups = RESTIC_TIMES.map((t, i) => ({ name: `b${i}`, time: new Date(`${t.replace(' ', 'T')}Z`) }));
const NOW = new Date('2016-02-01T00:00:00Z');

function kept(policy: Omit<RetentionPolicy, 'keepDays'>): string[] {
  return planPrune(backups, { keepDays: 0, ...policy }, NOW).keep.map((d) => d.time.toISOString().replace('.000', ''));
}

describe('GFS retention agrees with restic forget', () => {
  it('keep-last 10', () => {
    expect(kept({ keepLast: 10 })).toEqual(['2016-01-18T12:02:03Z', '2016-01-12T21:08:03Z', '2016-01-12T21:02:03Z', '2016-01-09T21:02:03Z', '2016-01-08T20:02:03Z',
      '2016-01-07T10:02:03Z', '2016-01-06T08:02:03Z', '2016-01-05T09:02:03Z', '2016-01-04T16:23:03Z', '2016-01-04T12:30:03Z']);
  });
  it('keep-daily 3', () => {
    expect(kept({ keepDaily: 3 })).toEqual(['2016-01-18T12:02:03Z', '2016-01-12T21:08:03Z', '2016-01-09T21:02:03Z']);
  });
  it('keep-weekly 2', () => {
    expect(kept({ keepWeekly: 2 })).toEqual(['2016-01-18T12:02:03Z', '2016-01-12T21:08:03Z']);
  });
  it('keep-daily 3 keep-weekly 4', () => {
    expect(kept({ keepDaily: 3, keepWeekly: 4 })).toEqual(['2016-01-18T12:02:03Z', '2016-01-12T21:08:03Z', '2016-01-09T21:02:03Z', '2016-01-03T07:02:03Z']);
  });
  it('keep-monthly 6', () => {
    expect(kept({ keepMonthly: 6 })).toEqual(['2016-01-18T12:02:03Z', '2015-11-22T10:20:30Z', '2015-10-22T10:20:30Z', '2015-09-22T10:20:30Z', '2015-08-22T10:20:30Z', '2014-11-22T10:20:30Z']);
  });
  it('keep-daily 2 keep-weekly 2 keep-monthly 6', () => {
    expect(kept({ keepDaily: 2, keepWeekly: 2, keepMonthly: 6 })).toEqual(['2016-01-18T12:02:03Z', '2016-01-12T21:08:03Z', '2015-11-22T10:20:30Z',
      '2015-10-22T10:20:30Z', '2015-09-22T10:20:30Z', '2015-08-22T10:20:30Z', '2014-11-22T10:20:30Z']);
  });
  it('keep-daily 7 keep-weekly 2 keep-monthly 3 keep-yearly 10, with the oldest kept while a rule has room', () => {
    const plan = planPrune(backups, { keepDays: 0, keepDaily: 7, keepWeekly: 2, keepMonthly: 3, keepYearly: 10 }, NOW);
    expect(plan.keep.map((d) => d.time.toISOString().replace('.000', ''))).toEqual(['2016-01-18T12:02:03Z', '2016-01-12T21:08:03Z', '2016-01-09T21:02:03Z',
      '2016-01-08T20:02:03Z', '2016-01-07T10:02:03Z', '2016-01-06T08:02:03Z', '2016-01-05T09:02:03Z', '2015-11-22T10:20:30Z', '2015-10-22T10:20:30Z',
      '2014-11-22T10:20:30Z', '2014-08-08T10:20:30Z']);
    expect(plan.keep.at(-1)?.reasons).toEqual(['oldest yearly backup']);
    expect(plan.keep[0]?.reasons).toEqual(['newest backup', 'daily backup', 'weekly backup', 'monthly backup', 'yearly backup']);
    expect(plan.keep.length + plan.remove.length).toBe(RESTIC_TIMES.length);
  });
  it('never removes the newest verified backup, even when newer ones failed verification', () => {
    const list = [
      { name: 'new-bad', time: new Date('2016-01-10T00:00:00Z'), verified: false },
      { name: 'old-good', time: new Date('2015-01-10T00:00:00Z'), verified: true },
      { name: 'older', time: new Date('2014-01-10T00:00:00Z'), verified: true },
    ];
    const plan = planPrune(list, { keepDays: 1, keepLast: 1 }, NOW);
    expect(plan.keep.map((d) => [d.name, d.reasons])).toEqual([['new-bad', ['newest backup', 'last backup']], ['old-good', ['newest verified backup']]]);
    expect(plan.remove.map((d) => [d.name, d.reasons])).toEqual([['older', ['older than 1 days, beyond keep-last 1']]]);
  });
});
