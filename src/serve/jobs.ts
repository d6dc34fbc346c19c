import { randomUUID } from 'node:crypto';
import { isFerryError } from '../errors/index.js';
import type { OperationContext } from '../ops/context.js';
import { verify, type VerifyReport } from '../ops/verify.js';

export interface VerifyJob {
  id: string;
  backup: string;
  state: 'running' | 'done' | 'failed';
  startedAt: string;
  progress: { step: string; doneBytes: number; totalBytes: number | null; detail: string | null };
  reports: VerifyReport[] | undefined;
  error: { code: string; message: string; hint: string | null } | undefined;
}

const KEPT_JOBS = 20;

/**
 * "Verify now" runs `ferry verify` (the same library call) in the server process, one at a time,
 * so that a click cannot start a disk-reading storm; the page polls the job for its progress.
 */
export class VerifyJobs {
  private readonly jobs = new Map<string, VerifyJob>();

  constructor(private readonly ctx: OperationContext, private readonly onFinished: () => void = () => undefined) {}

  running(): VerifyJob | undefined {
    return [...this.jobs.values()].find((j) => j.state === 'running');
  }

  get(id: string): VerifyJob | undefined {
    return this.jobs.get(id);
  }

  start(backup: string): VerifyJob {
    const job: VerifyJob = {
      id: randomUUID(), backup, state: 'running', startedAt: new Date().toISOString(),
      progress: { step: 'starting', doneBytes: 0, totalBytes: null, detail: null }, reports: undefined, error: undefined,
    };
    this.jobs.set(job.id, job);
    for (const old of [...this.jobs.keys()].slice(0, Math.max(0, this.jobs.size - KEPT_JOBS))) this.jobs.delete(old);
    const progress = {
      start: (step: string, totalBytes?: number) => { job.progress = { step, doneBytes: 0, totalBytes: totalBytes ?? null, detail: null }; },
      update: (doneBytes: number, detail?: string) => { job.progress = { ...job.progress, doneBytes, detail: detail ?? job.progress.detail }; },
      done: (summary?: string) => { job.progress = { ...job.progress, step: summary ?? job.progress.step }; },
    };
    verify({ ...this.ctx, progress }, backup).then((reports) => {
      job.reports = reports;
      job.state = 'done';
      this.onFinished();
    }, (error: unknown) => {
      this.onFinished();
      job.state = 'failed';
      job.error = isFerryError(error)
        ? { code: error.code, message: error.message, hint: error.hint ?? null }
        : { code: 'BUG', message: (error as Error).message, hint: 'Please report this, with the server log.' };
      if (!isFerryError(error)) this.ctx.log.warn(`verify ${backup} failed unexpectedly: ${(error as Error).stack ?? String(error)}`);
    });
    return job;
  }
}
