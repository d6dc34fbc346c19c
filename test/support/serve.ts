import { startFerry, type CliResult } from './cli.js';

export interface RunningServe {
  /** http://127.0.0.1:<port>/ */
  base: string;
  /** The token printed at start, when the server uses one. */
  token: string | undefined;
  /** The whole line the server printed at start. */
  banner: string;
  stop(): Promise<CliResult>;
}

/** Starts the real `ferry serve` on a free port and waits for the line it prints when listening. */
export async function startServe(args: string[], env: Record<string, string | undefined>): Promise<RunningServe> {
  const { child, done } = startFerry(['serve', '--listen', '127.0.0.1:0', ...args], env);
  let stdout = '';
  const banner = await new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
      const line = /^ferry serve: open .*$/m.exec(stdout)?.[0];
      if (line !== undefined) resolve(line);
    });
    void done.then((result) => reject(new Error(`ferry serve exited ${result.code} before listening: ${result.stderr}`)));
  });
  const url = new URL(/http:\/\/\S+/.exec(banner)?.[0] ?? '');
  const token = url.searchParams.get('token') ?? undefined;
  return {
    base: `${url.origin}/`,
    token,
    banner,
    stop: async () => {
      child.kill('SIGTERM');
      return done;
    },
  };
}
