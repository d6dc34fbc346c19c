import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { drain } from '../../archive/index.js';
import { FerryError } from '../../errors/index.js';
import { lastLine } from '../../process/index.js';
import type { ContentCheckContext, ContentChecker, ContentCheckResult } from '../store.js';
import type { PgToolRunner } from './runner.js';
import { CUSTOM_DUMP_ENTRY } from './store.js';
import { choosePgTools } from './tools.js';
import { followGrowingFile } from '../../util/follow-file.js';

/**
 * The custom dump is read to its end by pg_restore (into /dev/null): `pg_restore --list` alone
 * accepts a dump cut short, since the table of contents sits at the front. The newest pg_restore
 * available reads dumps of every older pg_dump. The entry is copied to a file that pg_restore
 * follows as it grows, so reading the archive never waits for pg_restore.
 */
export const postgresContentChecker: ContentChecker = {
  accepts: (path) => path === CUSTOM_DUMP_ENTRY,
  async check(path: string, data: Readable, ctx: ContentCheckContext): Promise<ContentCheckResult> {
    let tools: PgToolRunner;
    try {
      tools = await choosePgTools('newest', 'reading the dump', { binDir: ctx.pgBinDir, exec: ctx.pgExec }, ctx.signal);
    } catch (error) {
      await drain(data);
      if (error instanceof FerryError) ctx.log.warn(`${path}: not read by pg_restore: ${error.message}`);
      return { problems: [] };
    }
    const spool = join(ctx.tempDir, 'database.backup');
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    let spooled = false;
    const reading = tools.run('pg_restore', ['--file=/dev/null'], { signal: stop.signal, stdin: Readable.from(followGrowingFile(spool, () => spooled, stop.signal)) });
    reading.catch(() => undefined);
    const stopReading = async () => {
      stop.abort();
      await reading.catch(() => undefined);
    };
    try {
      let spoolError: unknown;
      try {
        spoolError = await copyToFile(data, spool);
      } catch (error) {
        await stopReading();
        throw error;
      } finally {
        spooled = true;
        ctx.signal.removeEventListener('abort', onAbort);
      }
      if (spoolError !== undefined) {
        await stopReading();
        ctx.log.warn(`${path}: not read by pg_restore: cannot write ${spool}: ${(spoolError as Error).message}`);
        return { problems: [] };
      }
      const result = await reading;
      return { problems: result.exitCode === 0 ? [] : [`${path}: pg_restore cannot read it: ${lastLine(result.stderr)}`] };
    } finally {
      await rm(spool, { force: true });
    }
  },
};

/**
 * Copies the entry to `path`, reading it to its end whatever happens: a file that cannot be written
 * (a full temporary folder) is returned as the error, not thrown, since the archive is not at fault.
 */
async function copyToFile(data: Readable, path: string): Promise<unknown> {
  let failure: unknown;
  const file = await open(path, 'wx', 0o600).catch((error: unknown) => {
    failure = error;
    return undefined;
  });
  try {
    for await (const chunk of data as AsyncIterable<Buffer>) {
      if (file === undefined || failure !== undefined) continue;
      await file.write(chunk).catch((error: unknown) => {
        failure = error;
      });
    }
  } finally {
    await file?.close();
  }
  return failure;
}
