import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { FerryError } from '../../errors/index.js';
import { lastLine, runTool, type RunOptions, type ToolResult } from '../../process/index.js';
import { urlWithoutPassword } from '../../config/index.js';
import { parseContainer } from '../../process/container.js';
import { parseToolVersion, packageHint } from './tools.js';

export type PgTool = 'pg_dump' | 'pg_restore' | 'psql';

/** Environment variables a tool may need; a container gets their names, docker reads the values. */
const PASSED_ENV = ['PGPASSWORD', 'PGCONNECT_TIMEOUT', 'PGOPTIONS'];

/**
 * Where PostgreSQL client tools run: on this machine, or inside the database container (so their
 * version always matches the server). Data always moves through stdin/stdout.
 */
export interface PgToolRunner {
  readonly where: string;
  /** True for tools on this machine, which can write straight into a local file. */
  readonly local: boolean;
  readonly version: string;
  readonly major: number;
  run(tool: PgTool, args: string[], options: RunOptions): Promise<ToolResult>;
  /** The --dbname argument for a URL: inside a container the server is local, so host and port go. */
  dbnameArg(url: string): string;
  /** A path the tools can open for a local file (pg_restore needs a seekable file); cleanup removes any copy. */
  fileForTools(localPath: string, signal: AbortSignal): Promise<{ path: string; cleanup: () => Promise<void> }>;
}

export function localRunner(dir: string, version: string, major: number): PgToolRunner {
  return {
    where: dir,
    local: true,
    version,
    major,
    run: (tool, args, options) => runTool(join(dir, tool), args, options),
    dbnameArg: (url) => `--dbname=${urlWithoutPassword(url)}`,
    fileForTools: async (localPath) => ({ path: localPath, cleanup: async () => undefined }),
  };
}

/** The tools run through docker exec or Compose exec (src/process/container.ts); PGPASSWORD crosses by name. */
export async function containerRunner(exec: string, minMajor: number, what: string, signal: AbortSignal): Promise<PgToolRunner> {
  const container = parseContainer(exec, 'postgres.exec');
  const label = container.label;
  const run = (tool: string, args: string[], options: RunOptions) => container.run([tool, ...args], { ...options, passEnv: PASSED_ENV });
  const probe = await run('pg_dump', ['--version'], { signal });
  const parsed = parseToolVersion(probe.stdout);
  if (probe.exitCode !== 0 || parsed === undefined) {
    throw new FerryError('PG_TOOL_MISSING', `pg_dump did not run in ${label}: ${lastLine(probe.stderr) || `exit ${String(probe.exitCode)}`}`, {
      hint: 'Check that the container is running (docker ps) and is the PostgreSQL one.',
    });
  }
  if (parsed.major < minMajor) {
    throw new FerryError('PG_TOOL_TOO_OLD', `${what} needs PostgreSQL client tools ${minMajor} or newer, ${label} has ${parsed.version}`, { hint: packageHint(minMajor) });
  }
  return {
    where: label,
    local: false,
    version: parsed.version,
    major: parsed.major,
    run,
    dbnameArg: (url) => {
      const u = new URL(urlWithoutPassword(url));
      if (u.searchParams.has('host')) return `--dbname=${u.toString()}`;
      return `--dbname=${u.protocol}//${u.username === '' ? '' : `${u.username}@`}${u.pathname}${u.search}`;
    },
    fileForTools: async (localPath, fileSignal) => {
      const path = `/tmp/ferry-${randomBytes(6).toString('hex')}.backup`;
      // The path is passed as a positional parameter, never spliced into the script.
      const copied = await run('sh', ['-c', 'cat > "$1"', 'sh', path], { signal: fileSignal, stdin: createReadStream(localPath) });
      if (copied.exitCode !== 0) {
        throw new FerryError('PG_RESTORE_FAILED', `cannot copy the dump into ${label}: ${lastLine(copied.stderr)}`, { hint: 'Check free space in the container\'s /tmp.' });
      }
      return { path, cleanup: async () => void (await run('rm', ['-f', path], { signal: new AbortController().signal }).catch(() => undefined)) };
    },
  };
}
