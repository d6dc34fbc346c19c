import { randomBytes } from 'node:crypto';
import { Readable, type Writable } from 'node:stream';
import { Redactor, type MongodbConfig } from '../../config/index.js';
import { FerryError } from '../../errors/index.js';
import type { Container } from '../../process/container.js';
import { lastLine, type ToolResult } from '../../process/run.js';
import { parseMongoUrl, type MongoPurpose } from './connection.js';

export type MongoTool = 'mongodump' | 'mongorestore';

/**
 * Inside the container: the first $2 bytes of stdin are the tool's --config file (YAML holding the
 * connection string with its password), written to $1 with umask 077 and noclobber (a 0600 file
 * this run created), then the tool runs with it and whatever stdin holds after those bytes (the
 * archive mongorestore reads). dd reads one byte at a time so that it takes no byte past the
 * config. The file goes when the script ends, however it ends; Ferry removes it again afterwards.
 */
const TOOL_SCRIPT = [
  'f=$1; n=$2; shift 2',
  'trap \'rm -f "$f"\' EXIT',
  'trap \'rm -f "$f"; exit 143\' HUP INT TERM',
  'umask 077',
  'set -C',
  'dd bs=1 count="$n" 2>/dev/null > "$f" || { echo "cannot write the $1 configuration file $f" >&2; exit 125; }',
  'set +C',
  '[ "$(wc -c < "$f")" -eq "$n" ] || { echo "the configuration for $1 was cut short" >&2; exit 125; }',
  '"$@" --config="$f"',
].join('\n');

/** Which of the tools the container has on its PATH. */
export async function toolsIn(container: Container, signal: AbortSignal): Promise<Set<MongoTool>> {
  const result = await container.run(['sh', '-c', 'for t in mongodump mongorestore; do command -v "$t" >/dev/null 2>&1 && echo "$t"; done; exit 0'], { signal });
  if (result.exitCode !== 0) {
    throw new FerryError('CONTAINER_UNREACHABLE', `cannot look for mongodump in ${container.label}: ${lastLine(result.stderr) || `exit ${String(result.exitCode)}`}`, {
      hint: `Check that the container is running (docker ps) and is the one ${container.key} should name.`,
    });
  }
  return new Set(result.stdout.split('\n').filter((line): line is MongoTool => line === 'mongodump' || line === 'mongorestore'));
}

/**
 * The connection string the tools use inside the container: the URL's credentials (or
 * mongodb.user/password, authSource admin as the driver path does), its port on 127.0.0.1, one
 * server directly, and no database (the tools take it as --db / in the archive's namespaces; the
 * authSource it implied is kept).
 */
export function toolUri(config: MongodbConfig, purpose: MongoPurpose): string {
  const parsed = parseMongoUrl(config.url);
  if (parsed === undefined) throw new FerryError('CONFIG_INVALID', 'mongodb.url is not a MongoDB connection string', { hint: 'Write it as mongodb://host:27017/db.' });
  const url = parsed.clone();
  const port = Number(/:(\d+)$/.exec(parsed.hosts[0] ?? '')?.[1] ?? 27017);
  url.hosts = [`127.0.0.1:${port}`];
  const pathDatabase = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  if (parsed.username === '' && config.user !== undefined) {
    url.username = encodeURIComponent(config.user);
    if (config.password !== undefined) url.password = encodeURIComponent(config.password);
    if (!url.searchParams.has('authSource')) url.searchParams.set('authSource', 'admin');
  } else if (parsed.username !== '' && pathDatabase !== '' && !url.searchParams.has('authSource')) {
    url.searchParams.set('authSource', pathDatabase);
  }
  url.pathname = '/';
  url.searchParams.delete('replicaSet');
  url.searchParams.set('directConnection', 'true');
  if (purpose === 'read' && config.read_preference !== undefined) url.searchParams.set('readPreference', config.read_preference);
  return url.toString();
}

/** Every form the password may take in a tool's message. */
export function toolRedactor(config: MongodbConfig): Redactor {
  const parsed = parseMongoUrl(config.url);
  const fromUrl = parsed === undefined || parsed.password === '' ? [] : [parsed.password, decodeURIComponent(parsed.password)];
  return new Redactor([...fromUrl, ...(config.password === undefined ? [] : [config.password])]);
}

export interface ToolRun {
  signal: AbortSignal;
  /** What the tool reads after its configuration (the archive for mongorestore). */
  stdin?: Readable;
  stdout?: Writable;
  onStderrLine?: (line: string) => void;
}

/**
 * Runs mongodump or mongorestore in the container with the password in a 0600 file there (see
 * TOOL_SCRIPT): it is in no argument and no environment variable of any process, here or there.
 */
export async function runContainerTool(container: Container, tool: MongoTool, config: MongodbConfig, purpose: MongoPurpose, args: readonly string[], run: ToolRun): Promise<ToolResult> {
  const file = `/tmp/ferry-${tool}-${randomBytes(8).toString('hex')}.yaml`;
  const settings = Buffer.from(`uri: ${JSON.stringify(toolUri(config, purpose))}\n`);
  const stdin = Readable.from(prepend(settings, run.stdin));
  try {
    return await container.run(['sh', '-c', TOOL_SCRIPT, 'ferry-tool', file, String(settings.length), tool, ...args], {
      signal: run.signal,
      stdin,
      ...(run.stdout === undefined ? {} : { stdout: run.stdout }),
      ...(run.onStderrLine === undefined ? {} : { onStderrLine: run.onStderrLine }),
    });
  } finally {
    await container.run(['rm', '-f', file], { signal: new AbortController().signal }).catch(() => undefined);
  }
}

async function* prepend(first: Buffer, rest: Readable | undefined): AsyncGenerator<Buffer> {
  yield first;
  if (rest !== undefined) yield* rest as AsyncIterable<Buffer>;
}

/** A tool that exited with an error: its last error line, without the password. */
export function toolFailure(container: Container, tool: MongoTool, config: MongodbConfig, result: ToolResult, hint: string): FerryError {
  const reason = toolRedactor(config).redact(lastLine(result.stderr)) || `exit ${String(result.exitCode ?? result.signal)}`;
  return new FerryError('MONGO_TOOL_FAILED', `${tool} in ${container.label} failed: ${reason}`, { hint });
}
