import { describe, expect, it, vi } from 'vitest';
import { Redactor } from '../../src/config/index.js';
import { Output, progressText } from '../../src/cli/render/output.js';

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

  it('on a terminal, draws the first figures of a step at once, even when the step ends within the redraw throttle', () => {
    const written: string[] = [];
    const tty = Object.getOwnPropertyDescriptor(process.stderr, 'isTTY');
    Object.defineProperty(process.stderr, 'isTTY', { value: true, configurable: true });
    const write = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => written.push(String(chunk)) > 0);
    try {
      const output = new Output({ json: false, quiet: false, verbose: false, logFormat: 'text' }, new Redactor());
      output.progress.start('reading backup.tar.gz', 4_000_000);
      output.progress.update(1_000_000);
      output.progress.update(2_000_000);
      output.progress.done();
    } finally {
      write.mockRestore();
      if (tty === undefined) delete (process.stderr as { isTTY?: boolean }).isTTY;
      else Object.defineProperty(process.stderr, 'isTTY', tty);
    }
    const drawn = written.filter((w) => w.includes('reading backup.tar.gz'));
    expect(drawn.some((line) => /reading backup\.tar\.gz {2}1\.0 MB {2}[\d.]+ [KMG]?B\/s {2}25%/.test(line)), drawn.join('|')).toBe(true);
    // Later figures within 100 ms of the last drawing still wait for the throttle.
    expect(drawn.some((line) => / 2\.0 MB /.test(line)), drawn.join('|')).toBe(false);
  });
});
