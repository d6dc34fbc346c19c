import { Writable } from 'node:stream';
import { createInterface } from 'node:readline/promises';
import { text } from 'node:stream/consumers';
import { FerryError } from '../../errors/index.js';
import { silentProgress } from '../../ops/context.js';
import { hashPassword, isPasswordHash, randomSecret, type AuthMode } from '../../serve/auth.js';
import { dashboardApp, isLoopback, listen, parseListen } from '../../serve/server.js';
import type { Session } from '../session.js';

export interface ServeCommandOptions {
  listen?: string;
  /** false with --no-auth. */
  auth: boolean;
  hashPassword?: boolean;
}

/** Runs the dashboard until Ctrl-C or SIGTERM. */
export async function serveCommand(session: Session, options: ServeCommandOptions): Promise<number> {
  const { ctx, output } = session;
  if (options.hashPassword === true) {
    output.data(await hashPassword(await readPassword()));
    return 0;
  }
  const config = ctx.config.serve;
  const { host, port } = parseListen(options.listen ?? config.listen);
  const hash = config.password_hash;
  if (hash !== undefined && !isPasswordHash(hash)) {
    throw new FerryError('CONFIG_INVALID', 'serve.password_hash is not a hash written by ferry serve --hash-password', { hint: 'Run ferry serve --hash-password, type the password, and put the line it prints in serve.password_hash.' });
  }
  const auth: AuthMode = !options.auth ? { kind: 'none' } : hash !== undefined ? { kind: 'password', hash } : { kind: 'token', token: randomSecret() };
  if (auth.kind === 'none' && !isLoopback(host)) {
    throw new FerryError('SERVE_UNPROTECTED', `refusing to serve the backups on ${host} without authentication`, {
      hint: 'Drop --no-auth (a token is printed at start), set serve.password_hash, or listen on 127.0.0.1.',
    });
  }
  const app = dashboardApp({ ...ctx, progress: silentProgress }, { auth, allowActions: config.allow_actions });
  const { server, port: bound } = await listen(app, host, port);
  const base = `http://${host.includes(':') ? `[${host}]` : host}:${bound}/`;
  // Written past the redactor on purpose: the token is shown this once, to whoever started the server.
  process.stdout.write(auth.kind === 'token' ? `ferry serve: open ${base}?token=${auth.token}\n`
    : auth.kind === 'password' ? `ferry serve: open ${base} and sign in with the password of serve.password_hash\n`
      : `ferry serve: open ${base} (no authentication: loopback only, read-only)\n`);
  if (config.allow_actions && auth.kind === 'none') output.logger.warn('serve.allow_actions is ignored without authentication');
  await new Promise<void>((resolve) => {
    if (ctx.signal.aborted) resolve();
    ctx.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  server.close();
  if ('closeAllConnections' in server) server.closeAllConnections();
  return 0;
}

/** The password from standard input (one line), or asked for on the terminal without echo. */
async function readPassword(): Promise<string> {
  let password: string;
  if (process.stdin.isTTY !== true) {
    password = (await text(process.stdin)).replace(/\r?\n$/, '');
  } else {
    let muted = false;
    const echo = new Writable({ write: (chunk: Buffer, _encoding, done) => { if (!muted) process.stderr.write(chunk); done(); } });
    const rl = createInterface({ input: process.stdin, output: echo, terminal: true });
    try {
      const asked = rl.question('password for the dashboard: ');
      muted = true;
      password = await asked;
      process.stderr.write('\n');
    } finally {
      rl.close();
    }
  }
  if (password.length < 8) throw new FerryError('USAGE', 'the password is shorter than 8 characters', { hint: 'Choose a longer password (a passphrase of a few words is easy to type).' });
  return password;
}
