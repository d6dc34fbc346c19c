import type { Readable } from 'node:stream';
import { drain } from '../../archive/index.js';
import { FerryError } from '../../errors/index.js';
import { lastLine } from '../../process/index.js';
import type { ContentCheckContext, ContentChecker, ContentCheckResult } from '../store.js';
import type { PgToolRunner } from './runner.js';
import { CUSTOM_DUMP_ENTRY } from './store.js';
import { choosePgTools } from './tools.js';

/**
 * The custom dump is read to its end by pg_restore (into /dev/null): `pg_restore --list` alone
 * accepts a dump cut short, since the table of contents sits at the front. The newest pg_restore
 * available reads dumps of every older pg_dump.
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
    const result = await tools.run('pg_restore', ['--file=/dev/null'], { signal: ctx.signal, stdin: data });
    return { problems: result.exitCode === 0 ? [] : [`${path}: pg_restore cannot read it: ${lastLine(result.stderr)}`] };
  },
};
