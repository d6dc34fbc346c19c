import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const FERRY_BIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The CLI environment without anything from the developer's shell that would change Ferry's configuration. */
export function cleanEnv(extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(FERRY_|DATABASE_URL|UPLOADS_DIR|BACKUP_|MONGODB_|PG|AWS_|POSTGRES_|MAX_AGE_HOURS|MIN_SIZE_KB)/.test(key)) continue;
    env[key] = value;
  }
  for (const [key, value] of Object.entries(extra)) if (value !== undefined) env[key] = value;
  return env;
}

/** Spawns the real ferry binary as a user would, with no terminal. */
export function startFerry(args: string[], env: Record<string, string | undefined>, cwd?: string): { child: ChildProcess; done: Promise<CliResult> } {
  const child = spawn(process.execPath, [FERRY_BIN, ...args], { env: cleanEnv(env), cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr?.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const done = new Promise<CliResult>((resolveDone) => child.on('close', (code) => resolveDone({ code, stdout, stderr })));
  return { child, done };
}

export function ferry(args: string[], env: Record<string, string | undefined>, cwd?: string): Promise<CliResult> {
  return startFerry(args, env, cwd).done;
}
