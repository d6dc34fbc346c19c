import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';

/**
 * Kills the process groups of Ferry's children when Ferry itself dies without a chance to do it
 * (SIGKILL, the OOM killer, `docker kill`): Ferry's `exit` handler covers every other way out.
 *
 * One small `sh` per run, started with the first child, in its own session so that the signals a
 * terminal sends to Ferry's group do not reach it. Ferry tells it each child's group over a pipe
 * (`+pid`, `-pid`); the pipe closes when Ferry dies, however it dies, and the watchdog then kills
 * the groups it still knows. No native module and no prctl, which Node cannot call.
 */
const SCRIPT = `
trap '' INT TERM HUP PIPE
groups=' '
while IFS= read -r line; do
  case "$line" in
    +*) groups="$groups\${line#+} " ;;
    -*) groups=$(printf '%s' "$groups" | sed "s/ \${line#-} / /") ;;
  esac
done
for group in $groups; do kill -KILL -- "-$group" 2>/dev/null || kill -KILL "$group" 2>/dev/null; done
`;

let watchdog: ChildProcess | undefined;
let failed = false;

function channel(): Socket | undefined {
  if (failed) return undefined;
  if (watchdog === undefined) {
    try {
      watchdog = spawn('/bin/sh', ['-c', SCRIPT], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
    } catch {
      failed = true;
      return undefined;
    }
    watchdog.on('error', () => {
      failed = true;
    });
    // Neither the watchdog nor its pipe may keep Ferry running.
    watchdog.unref();
    const input = watchdog.stdin as Socket;
    input.on('error', () => {
      failed = true;
    });
    input.unref();
  }
  return watchdog.stdin as Socket;
}

/** The child's group is killed if Ferry dies before calling release. */
export function guardGroup(pid: number): void {
  channel()?.write(`+${pid}\n`);
}

export function releaseGroup(pid: number): void {
  if (watchdog !== undefined && !failed) (watchdog.stdin as Socket).write(`-${pid}\n`);
}
