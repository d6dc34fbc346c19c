import { describe, expect, it } from 'vitest';
import { planPrune, type BackupRecord } from '../../src/retention/index.js';

const at = (day: number) => new Date(Date.UTC(2026, 2, day, 2));

describe('retention with chains of deltas', () => {
  // Two chains: full 1 ← 2 ← 3, full 4 ← 5; and a plain full 0 before them.
  const backups: BackupRecord[] = [
    { name: 'f0', time: at(1) },
    { name: 'f1', time: at(2) },
    { name: 'd2', time: at(3), base: 'f1' },
    { name: 'd3', time: at(4), base: 'd2' },
    { name: 'f4', time: at(5) },
    { name: 'd5', time: at(6), base: 'f4' },
  ];

  it('keeps every base down to the full of a kept delta, saying why, and removes the rest', () => {
    const plan = planPrune(backups.map((b) => (b.name === 'd3' ? { ...b, keptBecause: 'last normal backup before d5' } : b)), { keepDays: 0, keepLast: 1 }, at(7));
    expect(plan.keep.map((d) => [d.name, d.reasons])).toEqual([
      ['d5', ['newest backup', 'last backup']],
      ['f4', ['base of d5, which is kept (a delta is restored on top of it)']],
      ['d3', ['last normal backup before d5']],
      ['d2', ['base of d3, which is kept (a delta is restored on top of it)']],
      ['f1', ['base of d2, which is kept (a delta is restored on top of it)']],
    ]);
    expect(plan.remove.map((d) => d.name)).toEqual(['f0']);
  });

  it('removes a whole chain when nothing kept needs it', () => {
    const plan = planPrune(backups, { keepDays: 0, keepLast: 2 }, at(7));
    expect(plan.keep.map((d) => d.name)).toEqual(['d5', 'f4']);
    expect(plan.keep[1]?.reasons).toEqual(['last backup']);
    expect(plan.remove.map((d) => d.name)).toEqual(['d3', 'd2', 'f1', 'f0']);
  });
});
