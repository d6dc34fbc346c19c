import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { FerryError } from '../errors/index.js';
import type { Container } from './container.js';
import { lastLine } from './run.js';

/**
 * Inside the container: connects stdin/stdout to 127.0.0.1:<port> with what the image has. bash's
 * /dev/tcp (the official mongo and Debian postgres images), else socat, else nc (busybox in
 * postgres:*-alpine). The port is a positional parameter, never spliced into the script; a third
 * names a variable of the container's environment that overrides it (PGPORT, as pg_dump there reads). With
 * `probe` it only says which one it would use. bash ends when either direction does, so closing
 * stdin (what `docker exec -i` passes on) ends the process in the container, not only the client.
 */
const TUNNEL_SCRIPT = [
  'port=$1',
  '[ -n "${3:-}" ] && eval "port=\\${$3:-$1}"',
  'if command -v bash >/dev/null 2>&1; then',
  '  [ "$2" = probe ] && { echo bash; exit 0; }',
  '  exec bash -c \'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1; cat <&3 & a=$!; cat 0<&0 >&3 & b=$!; wait -n; kill $a $b 2>/dev/null; exit 0\' ferry-tunnel "$port"',
  'elif command -v socat >/dev/null 2>&1; then',
  '  [ "$2" = probe ] && { echo socat; exit 0; }',
  '  exec socat - "TCP:127.0.0.1:$port"',
  'elif command -v nc >/dev/null 2>&1; then',
  '  [ "$2" = probe ] && { echo nc; exit 0; }',
  '  exec nc 127.0.0.1 "$port"',
  'fi',
  'echo "neither bash, socat nor nc is in the container to reach 127.0.0.1:$port" >&2',
  'exit 127',
].join('\n');

/** How long a tunnel may take to end by itself once its client closed, before it is killed. */
const CLOSE_GRACE_MS = 2000;

/** A local endpoint whose connections reach 127.0.0.1:<port> inside a container. */
export interface Tunnel {
  /** A Unix socket in a private (0700) folder: no TCP port is opened on this machine either. */
  readonly socketPath: string;
  readonly dir: string;
  /** What the container said when a connection through it failed (docker's message), if one did. */
  failure(): FerryError | undefined;
  close(): Promise<void>;
}

/**
 * Forwards each connection made to a local Unix socket through its own `docker exec -i <container>`
 * running the script above: the database's wire protocol passes through unchanged, so the client
 * (the MongoDB driver, node-postgres) keeps every guarantee it has over TCP. `socketName` lets
 * node-postgres find `<dir>/.s.PGSQL.<port>`; the MongoDB driver needs a name ending in .sock.
 */
export async function openTunnel(container: Container, port: number, socketName: string, signal: AbortSignal, portVariable = ''): Promise<Tunnel> {
  const probe = await container.run(['sh', '-c', TUNNEL_SCRIPT, 'ferry-tunnel', String(port), 'probe', portVariable], { signal });
  if (probe.exitCode !== 0) {
    throw new FerryError('CONTAINER_UNREACHABLE', `cannot reach port ${port} in ${container.label}: ${lastLine(probe.stderr) || `exit ${String(probe.exitCode)}`}`, {
      hint: `Check that the container is running (docker ps) and is the one ${container.key} should name.`,
    });
  }
  const dir = await mkdtemp(join(tmpdir(), 'ferry-tunnel-'));
  const socketPath = join(dir, socketName);
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  const inputs = new Set<PassThrough>();
  const running = new Set<Promise<void>>();
  let failed: FerryError | undefined;
  const forward = (socket: Socket) => {
    const input = new PassThrough();
    inputs.add(input);
    socket.pipe(input);
    socket.on('error', () => input.end());
    socket.on('close', () => input.end());
    // Output to a socket the client already closed is dropped, so the child is ended by its stdin, not killed.
    const output = new Writable({
      write(chunk: Buffer, _encoding, done) {
        if (socket.writable) socket.write(chunk, () => done());
        else done();
      },
      final(done) {
        socket.end();
        done();
      },
    });
    const run: Promise<void> = container.run(['sh', '-c', TUNNEL_SCRIPT, 'ferry-tunnel', String(port), '', portVariable], { signal: stop.signal, stdin: input, stdout: output })
      .then((result) => {
        if (result.exitCode !== 0 && failed === undefined) {
          failed = new FerryError('CONTAINER_UNREACHABLE', `cannot reach 127.0.0.1:${port} in ${container.label}: ${lastLine(result.stderr) || `exit ${String(result.exitCode)}`}`, {
            hint: `Check that the database runs in ${container.label} and listens on port ${port} there (${container.key}).`,
          });
        }
      }, (cause: unknown) => {
        failed ??= cause instanceof FerryError ? cause : new FerryError('CONTAINER_UNREACHABLE', `tunnel through ${container.label} failed: ${(cause as Error).message}`, { hint: 'Check that docker works for this user (docker ps).', cause });
      })
      .finally(() => {
        inputs.delete(input);
        running.delete(run);
        socket.destroy();
      });
    running.add(run);
  };
  const server: Server = createServer(forward);
  await new Promise<void>((resolveListen, rejectListen) => {
    server.once('error', rejectListen);
    server.listen(socketPath, () => resolveListen());
  });
  server.unref();
  return {
    socketPath,
    dir,
    failure: () => failed,
    close: async () => {
      signal.removeEventListener('abort', onAbort);
      await new Promise<void>((resolveClose) => server.close(() => resolveClose()));
      for (const input of inputs) input.end();
      // nc keeps running after its stdin ends until the server hangs up, which mongod does not do.
      const grace = setTimeout(() => stop.abort(), CLOSE_GRACE_MS);
      await Promise.allSettled([...running]);
      clearTimeout(grace);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
