import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The folder holding the stand-in `docker` (test/support/bin/docker): put it first on PATH. */
export const STAND_IN_BIN = fileURLToPath(new URL('./bin', import.meta.url));
/** The stand-in Compose v1 `docker-compose` (a wrapper around the stand-in docker's compose). */
const COMPOSE_V1_BIN = fileURLToPath(new URL('./bin-compose-v1', import.meta.url));

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
 * caller from it), TTYs (-t), and every command but exec, cp with a `-` stream, compose ps -q and
 * compose version. Of `docker cp`: it reads and writes the container's folder from the host (GNU
 * tar, where docker uses Go's archive/tar: PAX headers, and "." entries skipped on extraction),
 * so symbolic links in the container path resolve on the host; stopped containers; `compose ps -q`
 * prints the container's name where docker prints its id; and how a container that stops mid-copy
 * fails (`cpCut` cuts the stream and says "unexpected EOF").
 *
 * `compose: 'v1'` plays a machine with only Compose v1: `docker compose` is "not a docker command"
 * and the stand-in `docker-compose` (test/support/bin-compose-v1) is on PATH.
 */
export function fakeDocker(dir: string, containers: Record<string, FakeContainer>, options: { netns?: string; compose?: 'v1' | 'v2'; cpCut?: number } = {}): FakeDocker {
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
      PATH: `${STAND_IN_BIN}:${options.compose === 'v1' ? `${COMPOSE_V1_BIN}:` : ''}${process.env.PATH ?? ''}`,
      ...(options.compose === 'v1' ? { FERRY_FAKE_DOCKER_NO_COMPOSE: '1' } : {}),
      ...(options.cpCut === undefined ? {} : { FERRY_FAKE_DOCKER_CP_CUT: String(options.cpCut) }),
      FERRY_FAKE_DOCKER: state,
      FERRY_FAKE_DOCKER_LOG: log,
      ...(options.netns === undefined ? {} : { FERRY_FAKE_DOCKER_NETNS: options.netns }),
    },
    root: (container) => join(state, 'containers', container, 'root'),
    calls: () => readFileSync(log, 'utf8').split('\n').filter((line) => line !== ''),
  };
}
