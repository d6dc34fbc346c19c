import { constants } from 'node:fs';
import { access, readdir, realpath } from 'node:fs/promises';
import { basename, delimiter, join } from 'node:path';
import { FerryError } from '../../errors/index.js';
import { runTool } from '../../process/index.js';
import { containerRunner, localRunner, type PgToolRunner } from './runner.js';


const VERSIONED_DIRS: Array<{ parent: string; pattern: RegExp; bin: string }> = [
  { parent: '/usr/lib/postgresql', pattern: /^\d+$/, bin: 'bin' },
  { parent: '/usr', pattern: /^pgsql-\d+$/, bin: 'bin' },
  { parent: '/opt/homebrew/opt', pattern: /^postgresql@\d+$/, bin: 'bin' },
  { parent: '/usr/local/opt', pattern: /^postgresql@\d+$/, bin: 'bin' },
  { parent: '/Applications/Postgres.app/Contents/Versions', pattern: /^\d+$/, bin: 'bin' },
];

export const SEARCHED_PLACES = 'PATH, /usr/lib/postgresql/*/bin, /usr/pgsql-*/bin, Homebrew postgresql@*';

/** Parses "pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)" and similar. */
export function parseToolVersion(output: string): { version: string; major: number } | undefined {
  const m = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(output);
  if (m === null) return undefined;
  const major = Number(m[1]);
  const version = major >= 10 ? `${m[1]}.${m[2] ?? '0'}` : `${m[1]}.${m[2] ?? '0'}.${m[3] ?? '0'}`;
  return { version, major };
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function candidateDirs(env: NodeJS.ProcessEnv): Promise<string[]> {
  const dirs = (env.PATH ?? '').split(delimiter).filter((d) => d !== '');
  for (const { parent, pattern, bin } of VERSIONED_DIRS) {
    const names = await readdir(parent).catch(() => [] as string[]);
    for (const name of names.filter((n) => pattern.test(n))) dirs.push(join(parent, name, bin));
  }
  return dirs;
}

export interface FoundTool { dir: string; version: string; major: number }

/** Every pg_dump on this machine with its version, each real binary once. */
export async function findPgDumps(binDir: string | undefined, signal: AbortSignal, env: NodeJS.ProcessEnv = process.env): Promise<FoundTool[]> {
  const dirs = binDir === undefined ? await candidateDirs(env) : [binDir];
  const seen = new Set<string>();
  const found: FoundTool[] = [];
  for (const dir of dirs) {
    const pgDump = join(dir, 'pg_dump');
    if (!(await isExecutable(pgDump))) continue;
    const real = await realpath(pgDump).catch(() => pgDump);
    if (seen.has(real) || (binDir === undefined && isDebianWrapper(real))) continue;
    seen.add(real);
    const result = await runTool(pgDump, ['--version'], { signal }).catch(() => undefined);
    const parsed = result === undefined ? undefined : parseToolVersion(result.stdout);
    if (parsed !== undefined) found.push({ dir, ...parsed });
  }
  return found;
}

/**
 * Debian's /usr/bin/pg_dump (and pg_restore, psql) is pg_wrapper, a Perl script that runs the
 * binary of /usr/lib/postgresql/<major>/bin, which is searched anyway. Running that binary itself
 * spares a Perl start on every run, 0.1 to 0.3 s, which a restore paid before its load began.
 */
function isDebianWrapper(realPath: string): boolean {
  return basename(realPath) === 'pg_wrapper';
}

export function packageHint(major: number): string {
  return `Install the PostgreSQL ${major} client tools (Debian/Ubuntu: apt-get install postgresql-client-${major}; RHEL: dnf install postgresql${major}; macOS: brew install postgresql@${major}), set postgres.bin_dir to their folder, or run them inside the database container with postgres.exec: docker://<container>.`;
}

export interface ToolChoice {
  /** postgres.bin_dir: only this folder. */
  binDir?: string | undefined;
  /** postgres.exec: docker://<container> or compose://<service>. */
  exec?: string | undefined;
}

/**
 * Picks client tools whose major version is at least `minMajor`: inside the container when
 * postgres.exec says so; otherwise on this machine, the exact major when there is one (its archives
 * are readable by the most pg_restore versions), else the closest newer one.
 */
export async function choosePgTools(minMajor: number | 'newest', what: string, choice: ToolChoice, signal: AbortSignal): Promise<PgToolRunner> {
  if (choice.exec !== undefined) return containerRunner(choice.exec, minMajor === 'newest' ? 0 : minMajor, what, signal);
  const found = await findPgDumps(choice.binDir, signal);
  const where = choice.binDir ?? SEARCHED_PLACES;
  if (found.length === 0) {
    throw new FerryError('PG_TOOL_MISSING', `pg_dump not found (searched ${where})`, { hint: packageHint(minMajor === 'newest' ? 15 : minMajor) });
  }
  if (minMajor === 'newest') found.sort((a, b) => b.major - a.major);
  const usable = minMajor === 'newest' ? found : found.filter((t) => t.major >= minMajor).sort((a, b) => a.major - b.major);
  const chosen = usable[0];
  if (chosen === undefined) {
    const versions = found.map((t) => `${t.version} (${t.dir})`).join(', ');
    throw new FerryError('PG_TOOL_TOO_OLD', `${what} needs PostgreSQL client tools ${String(minMajor)} or newer, found only ${versions}`, { hint: packageHint(Number(minMajor)) });
  }
  for (const tool of ['pg_restore', 'psql']) {
    if (!(await isExecutable(join(chosen.dir, tool)))) {
      throw new FerryError('PG_TOOL_MISSING', `${tool} not found next to ${join(chosen.dir, 'pg_dump')}`, { hint: packageHint(chosen.major) });
    }
  }
  return localRunner(chosen.dir, chosen.version, chosen.major);
}

export function majorOf(version: string): number {
  return Number(version.split('.')[0]);
}
