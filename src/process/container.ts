import type { Readable, Writable } from 'node:stream';
import { FerryError } from '../errors/index.js';
import { lastLine, runTool, type RunOptions, type ToolResult } from './run.js';

/**
 * A container named in the configuration (postgres.exec, mongodb.exec, uploads.exec): docker://<container>
 * runs `docker exec`, compose://<service> runs `docker compose exec -T` (or `docker-compose exec -T`
 * where only Compose v1 is installed) in the current folder's project.
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
  /**
   * `docker cp <container>:<path> -`: a tar stream of the path, its entries under the path's last
   * name (`uploads/…` for /app/uploads). No program of the container's is used.
   */
  copyOut(path: string, options: { signal: AbortSignal; stdout: Writable }): Promise<ToolResult>;
  /** `docker cp - <container>:<folder>`: extracts the tar on `stdin` into a folder that must exist. */
  copyIn(folder: string, options: { signal: AbortSignal; stdin: Readable }): Promise<ToolResult>;
}

const NAME = '[A-Za-z0-9][A-Za-z0-9_.-]*';
export const CONTAINER_PATTERN = new RegExp(`^(docker|compose)://(${NAME})$`);
export const CONTAINER_PATH_PATTERN = new RegExp(`^(docker|compose)://(${NAME}):(/.*)$`);

let composeCommand: Promise<readonly string[]> | undefined;

/**
 * `docker compose` (v2) when `docker compose version` answers, else `docker-compose` (v1) when
 * `docker-compose version` does: asked once per run.
 */
function composeProgram(container: Pick<Container, 'spec' | 'key'>, signal: AbortSignal): Promise<readonly string[]> {
  composeCommand ??= (async () => {
    const v2 = await runTool('docker', ['compose', 'version'], { signal }).catch(notFound);
    if (v2?.exitCode === 0) return ['docker', 'compose'];
    const v1 = await runTool('docker-compose', ['version'], { signal }).catch(notFound);
    if (v1?.exitCode === 0) return ['docker-compose'];
    // docker's first line says it ("docker: 'compose' is not a docker command."); the last only points to --help.
    const why = v2 === undefined ? 'docker is not on PATH' : v2.stderr.split('\n').find((line) => line.trim() !== '') ?? `exit ${String(v2.exitCode)}`;
    throw new FerryError('COMPOSE_UNAVAILABLE', `cannot run docker compose for ${container.key} ${container.spec}: neither \`docker compose\` (${why}) nor \`docker-compose\` works`, {
      hint: `Install the Compose plugin (Debian/Ubuntu: docker-compose-plugin) or docker-compose, or name the container itself with docker://<container> in ${container.key}.`,
    });
  })();
  composeCommand.catch(() => {
    composeCommand = undefined;
  });
  return composeCommand;
}

function notFound(cause: unknown): undefined {
  if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
  throw cause;
}

function dockerMissing(container: Pick<Container, 'spec' | 'key'>, cause: unknown): never {
  if ((cause as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new FerryError('CONTAINER_UNREACHABLE', `cannot run docker for ${container.key} ${container.spec}: docker is not on PATH`, {
      hint: `Install the docker CLI (Debian/Ubuntu: apt-get install docker-ce-cli or docker.io) or add it to PATH, or remove ${container.key}.`,
      cause,
    });
  }
  throw cause;
}

export function containerOf(kind: string, name: string, key: string): Container {
  const docker = kind === 'docker';
  const spec = `${kind}://${name}`;
  const label = docker ? `docker container ${name}` : `docker compose service ${name}`;
  const self = { spec, key };
  const tool = (command: readonly string[], args: readonly string[], options: RunOptions) =>
    runTool(command[0] as string, [...command.slice(1), ...args], options).catch((cause: unknown) => dockerMissing(self, cause));

  /**
   * docker cp takes a container, not a service: the service's one container, as `ps -q` lists it
   * (Compose v1 has no `cp`, and v2's `compose cp` reads `-` streams only in recent releases).
   */
  const containerName = async (signal: AbortSignal): Promise<string> => {
    if (docker) return name;
    const listed = await tool(await composeProgram(self, signal), ['ps', '-q', name], { signal });
    const ids = listed.stdout.split('\n').map((line) => line.trim()).filter((line) => line !== '');
    if (listed.exitCode !== 0 || ids.length !== 1) {
      const reason = listed.exitCode !== 0 ? lastLine(listed.stderr) || `exit ${String(listed.exitCode)}` : ids.length === 0 ? 'it has no running container' : `it has ${ids.length} containers`;
      throw new FerryError('CONTAINER_UNREACHABLE', `cannot find the container of ${label}: ${reason}`, {
        hint: `Start the service (docker compose up -d ${name}), or name one container with docker://<container> in ${key}.`,
      });
    }
    return ids[0] as string;
  };

  return {
    spec,
    label,
    key,
    run: async (args, options) => {
      const env = (options.passEnv ?? []).flatMap((variable) => ['-e', variable]);
      // docker exec passes stdin only with -i; compose exec passes it unless -T… and -T only drops the TTY.
      const interactive = options.stdin === undefined ? [] : ['-i'];
      if (docker) return tool(['docker'], ['exec', ...interactive, ...env, name, ...args], options);
      return tool(await composeProgram(self, options.signal), ['exec', '-T', ...env, name, ...args], options);
    },
    copyOut: async (path, options) => tool(['docker'], ['cp', `${await containerName(options.signal)}:${path}`, '-'], options),
    copyIn: async (folder, options) => tool(['docker'], ['cp', '-', `${await containerName(options.signal)}:${folder}`], options),
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
