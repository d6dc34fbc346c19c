import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const TOOLS = ['pg_dump', 'pg_restore', 'psql'] as const;

/**
 * A folder of stand-in PostgreSQL client tools, used through the postgres.bin_dir setting.
 * `body` is a shell snippet run for every call other than --version; "$REAL" is the real tool.
 */
export async function fakeToolDir(dir: string, options: { version?: string; body?: string }): Promise<string> {
  await mkdir(dir, { recursive: true });
  for (const tool of TOOLS) {
    const script = [
      '#!/bin/sh',
      `REAL=$(command -v ${tool})`,
      `if [ "$1" = "--version" ]; then ${options.version === undefined ? 'exec "$REAL" --version' : `echo "${tool} (PostgreSQL) ${options.version}"; exit 0`}; fi`,
      options.body ?? 'exec "$REAL" "$@"',
      '',
    ].join('\n');
    await writeFile(join(dir, tool), script);
    await chmod(join(dir, tool), 0o755);
  }
  return dir;
}
