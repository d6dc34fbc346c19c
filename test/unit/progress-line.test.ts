import { describe, expect, it } from 'vitest';
import { progressText } from '../../src/cli/render/output.js';

const step = (over: Partial<Parameters<typeof progressText>[0]> = {}) => ({
  label: 'pg_dump postgres app@db.example.org:5432/legrimoire', started: 0, total: 100_000_000, estimate: true, done: 40_000_000, detail: 'table public.recipes', ...over,
});

describe('the progress line', () => {
  it('shows bytes, rate, an approximate percent, ETA, the table and the clock', () => {
    expect(progressText(step(), 10_000, 200)).toBe('pg_dump postgres app@db.example.org:5432/legrimoire  40 MB  4.0 MB/s  ~40%  ETA 15 s  table public.recipes  10 s');
  });

  it('never shows an estimate past 99%, and an exact total as measured', () => {
    expect(progressText(step({ done: 150_000_000 }), 10_000, 200)).toMatch(/~99% {2}table/);
    expect(progressText(step({ estimate: false, done: 100_000_000, detail: undefined }), 10_000, 200)).toMatch(/ 100% {2}10 s$/);
  });

  it('a silent step shows its clock; on a narrow terminal the label gives way to the figures', () => {
    expect(progressText(step({ label: 'finishing the archive', done: undefined, total: undefined, detail: undefined }), 3_200, 80)).toBe('finishing the archive  4 s');
    const narrow = progressText(step(), 10_000, 63);
    expect(narrow.length).toBeLessThanOrEqual(63);
    expect(narrow).toMatch(/… {2}40 MB {2}4\.0 MB\/s {2}~40% {2}ETA 15 s {2}table public\.recipes {2}10 s$/);
    expect(progressText(step(), 10_000, 75)).toBe("pg_dump postg…  40 MB  4.0 MB/s  ~40%  ETA 15 s  table public.recipes  10 s");
  });
});
