import type { Readable } from 'node:stream';
import type { Manifest } from '../../archive/index.js';
import { FerryError } from '../../errors/index.js';
import { lastLine } from '../../process/index.js';
import type { PgToolRunner } from './runner.js';
import type { ContentCheckContext, ContentChecker } from '../store.js';
import { CUSTOM_DUMP_ENTRY } from './store.js';
import { choosePgTools, majorOf } from './tools.js';

/**
 * The custom dump is read to its end by pg_restore (into /dev/null): `pg_restore --list` alone
 * accepts a dump cut short, since the table of contents sits at the front.
 */
export const postgresContentChecker: ContentChecker = {
  accepts: (path) => path === CUSTOM_DUMP_ENTRY,
  async check(path: string, data: Readable, manifest: Manifest, ctx: ContentCheckContext): Promise<string[]> {
    const dumpVersion = manifest.stores.postgres?.toolVersion ?? '0';
    let tools: PgToolRunner;
    try {
      tools = await choosePgTools(majorOf(dumpVersion), `reading a dump from pg_dump ${dumpVersion}`, { binDir: ctx.pgBinDir, exec: ctx.pgExec }, ctx.signal);
    } catch (error) {
      data.resume();
      await new Promise((resolveEnd) => data.once('end', resolveEnd));
      if (error instanceof FerryError) ctx.log.warn(`${path}: not read by pg_restore: ${error.message}`);
      return [];
    }
    const result = await tools.run('pg_restore', ['--file=/dev/null'], { signal: ctx.signal, stdin: data });
    return result.exitCode === 0 ? [] : [`${path}: pg_restore cannot read it: ${lastLine(result.stderr)}`];
  },
};
