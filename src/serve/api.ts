import type { Hono } from 'hono';
import { healthJson } from '../cli/commands/health.js';
import { inspectJson } from '../cli/commands/inspect.js';
import { listJson } from '../cli/commands/list.js';
import { verifyJson } from '../cli/commands/verify.js';
import { errorJson, jsonDocument } from '../cli/render/json.js';
import { isFerryError } from '../errors/index.js';
import { renderMetrics } from '../health/index.js';
import type { OperationContext } from '../ops/context.js';
import { inspect } from '../ops/inspect.js';
import { list } from '../ops/list.js';
import { locationHealth, type TrendPoint } from './data.js';
import type { VerifyJob } from './jobs.js';

/**
 * The JSON API: each document is exactly what `ferry <command> --json` prints (docs/json/), built by
 * the CLI's own functions; only /api/trends and /api/jobs, which have no command, have shapes of their own.
 */
export function jsonResponse(value: object, status = 200): Response {
  return new Response(jsonDocument(value) + '\n', { status, headers: { 'content-type': 'application/json; charset=utf-8' } });
}

/** A FerryError in the CLI's error shape with its exit code's HTTP counterpart; anything else is rethrown. */
export function errorResponse(error: unknown): Response {
  if (!isFerryError(error)) throw error;
  const status = error.exitCode === 3 && error.code === 'ARCHIVE_NOT_FOUND' ? 404 : error.exitCode === 3 ? 400 : 500;
  return jsonResponse(errorJson(error), status);
}

export function jobJson(job: VerifyJob) {
  return {
    id: job.id,
    backup: job.backup,
    state: job.state,
    startedAt: job.startedAt,
    progress: job.progress,
    result: job.reports === undefined ? null : verifyJson(job.reports),
    error: job.error ?? null,
  };
}

export function apiRoutes(app: Hono, ctx: OperationContext, jobs: { get(id: string): VerifyJob | undefined }, trendPoints: () => Promise<TrendPoint[]>): void {
  const flag = (value: string | undefined) => value !== undefined && value !== '0' && value !== 'false';

  app.get('/api/list', async (c) => {
    const remote = flag(c.req.query('remote'));
    try {
      return jsonResponse(listJson(await list(ctx, { remote }), remote, new Date()));
    } catch (error) {
      return errorResponse(error);
    }
  });

  // As `ferry health --json [--quick] [--remote]`: UNKNOWN (exit code 3) when the check cannot run.
  app.get('/api/health', async (c) => {
    const { result } = await locationHealth(ctx, flag(c.req.query('remote')) ? 'remote' : 'local', { quick: flag(c.req.query('quick')) });
    return jsonResponse(healthJson(result));
  });

  app.get('/api/inspect/:name', async (c) => {
    try {
      return jsonResponse(inspectJson(await inspect(ctx, c.req.param('name'))));
    } catch (error) {
      return errorResponse(error);
    }
  });

  app.get('/api/trends', async () => jsonResponse({ backups: await trendPoints() }));

  app.get('/api/jobs/:id', (c) => {
    const job = jobs.get(c.req.param('id'));
    return job === undefined ? jsonResponse(errorJson({ code: 'JOB_NOT_FOUND', message: 'no such job (jobs are kept in memory until the server stops)', exitCode: 3 }), 404) : jsonResponse(jobJson(job));
  });

  // The text ferry health --metrics-file writes (the quick check: metrics are scraped often).
  app.get('/metrics', async (c) => {
    const { metrics } = await locationHealth(ctx, flag(c.req.query('remote')) ? 'remote' : 'local', { quick: true });
    if (metrics === undefined) return c.text('# ferry health could not look at the backups: see /api/health\n', 503);
    return new Response(renderMetrics(metrics), { headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' } });
  });
}
