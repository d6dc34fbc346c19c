import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The folder holding the stand-in `docker` (test/support/bin/docker): put it first on PATH. */
export const STAND_IN_BIN = fileURLToPath(new URL('./bin', import.meta.url));

export interface FakeContainer {
  /** The image's environment (never secrets: those must come through -e). */
  env?: Record<string, string>;
  /** The Compose service name that maps to this container. */
  service?: string;
}

export interface FakeDocker {
  /** Environment for the Ferry process: PATH with the stand-in first, and where its state lives. */
  env: Record<string, string>;
  /** The container's own root folder: a path "inside the container" is under it. */
  root(container: string): string;
  /** Every docker command line Ferry ran, one per call. */
  calls(): string[];
}

/**
 * Sets up the stand-in docker's containers in `dir`. What it does not reproduce of real docker:
 * users (everything runs as root), cgroups and PID namespaces (processes in the container are
 * visible to the host and killed with it), images (the container's programs are this machine's
 * /usr), `docker exec` of a missing program (exit 127 from the shell, where docker says 126 with
 * an OCI runtime message), networks other than one shared namespace (set netns to separate the
 * caller from it), TTYs (-t), and every command but exec.
 */
export function fakeDocker(dir: string, containers: Record<string, FakeContainer>, options: { netns?: string } = {}): FakeDocker {
  const state = join(dir, 'docker-state');
  const log = join(dir, 'docker.log');
  mkdirSync(join(state, 'services'), { recursive: true });
  for (const [name, container] of Object.entries(containers)) {
    mkdirSync(join(state, 'containers', name, 'root'), { recursive: true });
    const lines = Object.entries(container.env ?? {}).map(([key, value]) => `${key}=${value}\n`).join('');
    writeFileSync(join(state, 'containers', name, 'env'), lines);
    if (container.service !== undefined) writeFileSync(join(state, 'services', container.service), name);
  }
  writeFileSync(log, '');
  return {
    env: {
      PATH: `${STAND_IN_BIN}:${process.env.PATH ?? ''}`,
      FERRY_FAKE_DOCKER: state,
      FERRY_FAKE_DOCKER_LOG: log,
      ...(options.netns === undefined ? {} : { FERRY_FAKE_DOCKER_NETNS: options.netns }),
    },
    root: (container) => join(state, 'containers', container, 'root'),
    calls: () => readFileSync(log, 'utf8').split('\n').filter((line) => line !== ''),
  };
}
