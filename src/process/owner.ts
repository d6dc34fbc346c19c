import { readFileSync } from 'node:fs';

/** A run that left something behind: its pid and, where /proc tells, its start time in clock ticks since boot. */
export interface RunOwner {
  pid: number;
  started: string | undefined;
}

/**
 * This run's name in the folders it leaves while working: the pid and the process's start time,
 * because a container's Ferry is often pid 1 every time.
 */
export function ownerTag(): string {
  const started = startTime(process.pid);
  return started === undefined ? String(process.pid) : `${process.pid}.${started}`;
}

/**
 * Whether that run is alive: its pid exists and, where known, started then. A pid whose start time
 * can no longer be read has just exited (or was reused by a process that did): taking it for the
 * owner would leave a killed run's half-done work unrecovered.
 */
export function ownerAlive(owner: RunOwner): boolean {
  if (!processAlive(owner.pid)) return false;
  return owner.started === undefined || startTime(owner.pid) === owner.started;
}

/** Field 22 of /proc/<pid>/stat; the command name before it may hold spaces, so count from its ')'. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
