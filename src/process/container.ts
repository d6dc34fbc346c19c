import { FerryError } from '../errors/index.js';
import { lastLine, runTool, type RunOptions, type ToolResult } from './run.js';

/**
 * A container named in the configuration (postgres.exec, mongodb.exec, uploads.exec): docker://<container>
 * runs `docker exec`, compose://<service> runs `docker compose exec -T` in the current folder's project.
 */
export interface Container {
  readonly spec: string;
  /** "docker container le-grimoire-mongodb-prod", for messages. */
  readonly label: string;
  /** The config key that named it, for messages and hints. */
  readonly key: string;
  /**
   * Runs a program inside the container. Only the variables named in `passEnv` cross into it (docker
   * reads their values from Ferry's own environment, so they never appear in docker's arguments).
   */
  run(args: readonly string[], options: RunOptions & { passEnv?: readonly string[] }): Promise<ToolResult>;
}

const NAME = '[A-Za-z0-9][A-Za-z0-9_.-]*';
export const CONTAINER_PATTERN = new RegExp(`^(docker|compose)://(${NAME})$`);
export const CONTAINER_PATH_PATTERN = new RegExp(`^(docker|compose)://(${NAME}):(/.*)$`);

export function containerOf(kind: string, name: string, key: string): Container {
  const docker = kind === 'docker';
  const spec = `${kind}://${name}`;
  const label = docker ? `docker container ${name}` : `docker compose service ${name}`;
  return {
    spec,
    label,
    key,
    run: async (args, options) => {
      const env = (options.passEnv ?? []).flatMap((variable) => ['-e', variable]);
      // docker exec passes stdin only with -i; compose exec passes it unless -T… and -T only drops the TTY.
      const interactive = options.stdin === undefined ? [] : ['-i'];
      const prefix = docker ? ['exec', ...interactive, ...env, name] : ['compose', 'exec', '-T', ...env, name];
      return runTool('docker', [...prefix, ...args], options).catch((cause: unknown) => {
        if ((cause as NodeJS.ErrnoException).code === 'ENOENT') {
          throw new FerryError('CONTAINER_UNREACHABLE', `cannot run docker for ${key} ${spec}: docker is not on PATH`, {
            hint: `Install the docker CLI (Debian/Ubuntu: apt-get install docker-ce-cli or docker.io) or add it to PATH, or remove ${key}.`,
            cause,
          });
        }
        throw cause;
      });
    },
  };
}

/** Parses `docker://<container>` or `compose://<service>` (config validation already checked the shape). */
export function parseContainer(spec: string, key: string): Container {
  const m = CONTAINER_PATTERN.exec(spec);
  if (m === null) {
    throw new FerryError('CONFIG_INVALID', `${key}: ${spec} is not docker://<container> or compose://<service>`, {
      hint: 'Name the container, e.g. docker://le-grimoire-mongodb-prod, or the Compose service, e.g. compose://mongodb.',
    });
  }
  return containerOf(m[1] as string, m[2] as string, key);
}

/** The one-line failure of a command run in a container (`what` is a verb phrase): docker's own message when it has one. */
export function containerFailure(container: Container, what: string, result: ToolResult): FerryError {
  const reason = lastLine(result.stderr) || `exit ${String(result.exitCode ?? result.signal)}`;
  return new FerryError('CONTAINER_UNREACHABLE', `cannot ${what} in ${container.label}: ${reason}`, {
    hint: `Check that the container is running (docker ps) and is the one ${container.key} should name.`,
  });
}
