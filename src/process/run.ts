import { spawn } from 'node:child_process';
import { Duplex, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { interrupted } from '../errors/index.js';
import { guardGroup, releaseGroup } from './watchdog.js';
import { drainedOrClosed } from '../util/drain.js';

export interface RunOptions {
  /** Extra environment variables; secrets travel here, never in args. */
  env?: Record<string, string | undefined>;
  signal: AbortSignal;
  /** Where the child's stdout goes; collected into ToolResult.stdout when absent. */
  stdout?: Writable;
  stdin?: Readable;
  cwd?: string;
  /** Each complete stderr line as it arrives (progress from a tool's verbose output). */
  onStderrLine?: (line: string) => void;
}

export interface ToolResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** The last part of stderr, for error messages (callers redact it). */
  stderr: string;
  stdout: string;
}

const STDERR_TAIL = 16 * 1024;
const KILL_GRACE_MS = 3000;

/**
 * Children run in their own process group so that stopping one also stops whatever it started
 * (a wrapper script, docker exec); the groups still alive are killed if Ferry itself exits, and by
 * the watchdog if Ferry is killed outright.
 */
const liveGroups = new Set<number>();
process.on('exit', () => {
  for (const pid of liveGroups) killGroup(pid, 'SIGKILL');
});

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // Already gone.
    }
  }
}

/**
 * Runs an external program with an argument array (never a shell). Rejects with the INTERRUPTED
 * error when the signal fires, after the child was terminated; otherwise resolves with its exit
 * status so the caller can phrase the failure.
 */
export async function runTool(command: string, args: readonly string[], options: RunOptions): Promise<ToolResult> {
  if (options.signal.aborted) throw interrupted();
  const child = spawn(command, args, {
    env: { ...process.env, ...options.env },
    stdio: [options.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    cwd: options.cwd,
    detached: true,
  });
  const pid = child.pid;
  if (pid !== undefined) {
    liveGroups.add(pid);
    guardGroup(pid);
  }
  const childOut = child.stdout as Readable;
  const childErr = child.stderr as Readable;
  let stderr = '';
  let partialLine = '';
  childErr.setEncoding('utf8');
  childErr.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-STDERR_TAIL);
    if (options.onStderrLine === undefined) return;
    const lines = (partialLine + chunk).split('\n');
    partialLine = (lines.pop() as string).slice(-STDERR_TAIL);
    for (const line of lines) options.onStderrLine(line);
  });
  let stdout = '';
  const stdoutDone = options.stdout === undefined
    ? new Promise<void>((resolveDone) => {
        childOut.setEncoding('utf8');
        childOut.on('data', (chunk: string) => {
          if (stdout.length < 1024 * 1024) stdout += chunk;
        });
        childOut.on('end', resolveDone);
        childOut.on('error', resolveDone);
      })
    : pipeline(childOut, options.stdout);
  const stdinDone = options.stdin !== undefined && child.stdin !== null ? pump(options.stdin, child.stdin) : Promise.resolve();

  let killTimer: NodeJS.Timeout | undefined;
  const onAbort = () => {
    if (pid === undefined) return;
    killGroup(pid, 'SIGTERM');
    killTimer = setTimeout(() => killGroup(pid, 'SIGKILL'), KILL_GRACE_MS);
    killTimer.unref();
  };
  options.signal.addEventListener('abort', onAbort, { once: true });

  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit, rejectExit) => {
    child.once('error', rejectExit);
    child.once('close', (code, signal) => resolveExit({ code, signal }));
  });
  exit.catch(() => undefined);
  try {
    const [status] = await Promise.all([exit, stdoutDone, stdinDone]);
    if (options.signal.aborted) throw interrupted();
    return { exitCode: status.code, signal: status.signal, stderr: stderr.trim(), stdout };
  } catch (error) {
    // The child goes before its stdin is closed: psql commits whatever it got when its input ends.
    if (pid !== undefined) {
      killGroup(pid, 'SIGTERM');
      const forced = setTimeout(() => killGroup(pid, 'SIGKILL'), KILL_GRACE_MS);
      await exit.catch(() => undefined);
      clearTimeout(forced);
    }
    throw error;
  } finally {
    if (pid !== undefined) {
      liveGroups.delete(pid);
      releaseGroup(pid);
    }
    options.signal.removeEventListener('abort', onAbort);
    if (killTimer !== undefined) clearTimeout(killTimer);
  }
}

/**
 * Feeds a child's stdin and always reads the source to its end, even when the child stops reading
 * early: the source may be an archive entry that still has to be hashed.
 */
async function pump(source: Readable, sink: Writable): Promise<void> {
  let open = true;
  sink.on('error', () => {
    open = false;
  });
  for await (const chunk of source.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    if (!open || sink.destroyed) continue;
    if (!sink.write(chunk)) await drainedOrClosed(sink);
  }
  if (open && !sink.destroyed) sink.end();
}

/** The last meaningful line of a tool's stderr, for a one-line message. */
export function lastLine(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const errorLine = [...lines].reverse().find((l) => /error|fatal/i.test(l));
  return errorLine ?? lines.at(-1) ?? '';
}

/**
 * A program that turns its stdin into its stdout (a compressor), as one stream. Its output ends
 * only once the program exited 0; any other exit fails the stream with the program's last stderr
 * line, so a reader never takes cut-short output for the whole. Destroying the stream kills the
 * program's group.
 */
export function spawnFilter(command: string, args: readonly string[]): Duplex {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  const pid = child.pid;
  if (pid !== undefined) {
    liveGroups.add(pid);
    guardGroup(pid);
  }
  let exited = false;
  let stderr = '';
  const input = child.stdin as Writable;
  const output = child.stdout as Readable;
  // A program that stops reading (it found bad input) is reported by its exit status below.
  input.on('error', () => undefined);
  (child.stderr as Readable).setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-STDERR_TAIL);
  });
  const stream = new Duplex({
    write(chunk: Buffer, _encoding, callback) {
      if (exited || input.destroyed || input.write(chunk)) {
        callback();
        return;
      }
      void drainedOrClosed(input).then(() => callback());
    },
    final(callback) {
      input.end();
      callback();
    },
    read() {
      output.resume();
    },
    destroy(error, callback) {
      if (!exited && pid !== undefined) killGroup(pid, 'SIGKILL');
      callback(error);
    },
  });
  output.on('data', (chunk: Buffer) => {
    if (!stream.push(chunk)) output.pause();
  });
  const settle = () => {
    exited = true;
    if (pid !== undefined) {
      liveGroups.delete(pid);
      releaseGroup(pid);
    }
  };
  child.once('error', (error) => {
    settle();
    stream.destroy(error);
  });
  child.once('close', (code, signal) => {
    settle();
    if (code === 0) stream.push(null);
    else if (!stream.destroyed) stream.destroy(new Error(`${command} ${signal === null ? `exited ${String(code)}` : `was killed by ${signal}`}: ${lastLine(stderr) || 'no message'}`));
  });
  return stream;
}
