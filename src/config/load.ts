import { readFileSync } from 'node:fs';
import { zstdBackend } from '../archive/codec.js';
import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { ZodError } from 'zod';
import { FerryError } from '../errors/index.js';
import { ENV_OVERRIDES, variablesFor } from './env-keys.js';
import { applyEnvFileValues, readEnvFiles } from './env-file.js';
import { expandString, expandValues } from './expand.js';
import { applyLibpq } from './libpq-config.js';
import { passwordOf, Redactor } from './redact.js';
import { configSchema, mongodbConfigSchema, uploadsConfigSchema, type FerryConfig } from './schema.js';
import { applyScriptNames } from './script-names.js';
import { closest, keysAt } from './suggest.js';

export const DEFAULT_CONFIG_FILE = 'ferry.config.yaml';

export interface LoadedConfig {
  config: FerryConfig;
  /** The file the configuration came from, or undefined in environment-only mode. */
  file: string | undefined;
  redactor: Redactor;
  /** Warnings about the configuration itself (for example a secret-bearing file others can read). */
  warnings: string[];
  /** Choices made for the user that the log should mention (defaults of environment-only mode). */
  notes: string[];
}

/** What the Le Grimoire scripts exported as JSON in every backup. */
const LEGACY_EXPORTS = ['recipes', 'ingredients'];

export interface LoadConfigOptions {
  /** An explicit --config path; when absent, ferry.config.yaml in cwd is used if it exists. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /**
   * --env-file: loaded into `env` before anything else is read; a variable `env` already has wins.
   * Their secret-looking values (…PASSWORD, …SECRET, …TOKEN, …KEY) are registered with the redactor.
   */
  envFiles?: readonly string[];
}

export async function loadConfig(options: LoadConfigOptions = {}): Promise<LoadedConfig> {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const fromFiles = options.envFiles === undefined || options.envFiles.length === 0 ? undefined : await readEnvFiles(options.envFiles, cwd);
  if (fromFiles !== undefined) applyEnvFileValues(env, fromFiles.values);
  const explicit = options.file ?? env.FERRY_CONFIG;
  const file = explicit !== undefined && explicit !== '' ? resolve(cwd, explicit) : await existing(resolve(cwd, DEFAULT_CONFIG_FILE));
  const warnings: string[] = [];

  let raw: unknown = {};
  let written: unknown = {};
  if (file !== undefined) {
    raw = await readYaml(file);
    if (raw === null || raw === undefined) raw = {};
    if (typeof raw !== 'object' || Array.isArray(raw)) {
      throw new FerryError('CONFIG_INVALID', `${file}: expected a mapping of sections (backup, postgres, uploads) at the top level`, {
        hint: 'See docs/configuration.md for an example file.',
      });
    }
    written = raw;
    raw = expandValues(raw, env);
  }
  const merged = applyEnvOverrides(raw as Record<string, unknown>, env);
  warnings.push(...applyScriptNames(merged, env, knownKey));
  warnings.push(...applyLibpq(merged, env, file === undefined));
  const notes = file === undefined ? legacyExportDefault(merged, env) : [];
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) throw describeZodError(parsed.error, file, env, raw);
  const config = resolvePaths(parsed.data, file === undefined ? cwd : resolve(file, '..'));
  // Said now, not after an hour of dumping.
  if (config.backup.compression === 'zstd') zstdBackend();
  if (file !== undefined && fileHoldsSecret(written)) {
    const mode = (await stat(file)).mode & 0o077;
    if (mode !== 0) warnings.push(`${file} holds a password and can be read by other users; run chmod 600 on it`);
  }
  const redactor = redactorFor(config);
  return { config, file, redactor: fromFiles === undefined ? redactor : redactor.with(fromFiles.secrets), warnings, notes };
}

/**
 * Environment-only mode is how the old scripts' users start: like the scripts, export recipes and
 * ingredients as JSON unless FERRY_MONGODB_EXPORT_COLLECTIONS says otherwise (set but empty: none).
 */
function legacyExportDefault(merged: Record<string, unknown>, env: NodeJS.ProcessEnv): string[] {
  const mongodb = merged.mongodb;
  if (mongodb === null || typeof mongodb !== 'object' || Array.isArray(mongodb) || env.FERRY_MONGODB_EXPORT_COLLECTIONS !== undefined) return [];
  (mongodb as Record<string, unknown>).export_collections = LEGACY_EXPORTS;
  (mongodb as Record<string, unknown>).export_missing = 'skip';
  return [`environment-only mode: exporting ${LEGACY_EXPORTS.join(' and ')} as JSON, as the backup scripts did, when they exist (FERRY_MONGODB_EXPORT_COLLECTIONS changes the list; set it empty for none)`];
}

/**
 * Whether the file's own text holds a password: ${VAR} references (what security.md recommends) do
 * not count, a literal or a ${VAR:-default} with a literal default does; the environment never does.
 */
function fileHoldsSecret(written: unknown): boolean {
  const section = (name: string): Record<string, unknown> => {
    const value = (written as Record<string, unknown> | null)?.[name];
    return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : {};
  };
  // Expanded with no variable set, what is left is what the file itself says. Done before the URL is
  // parsed: the colon of `${POSTGRES_USER:-grimoire}` would otherwise end the user name there.
  const literal = (value: unknown): boolean => typeof value === 'string' && expandString(value, {}) !== '';
  const urlPassword = (value: unknown): boolean => typeof value === 'string' && passwordOf(expandString(value, {})) !== undefined;
  return urlPassword(section('postgres').url) || urlPassword(section('mongodb').url) || literal(section('mongodb').password);
}

/** Whether this build has an optional key that the scripts' container variables map to. */
function knownKey(path: string): boolean {
  const [sectionName, key] = path.split('.');
  const shape: Record<string, unknown> = sectionName === 'mongodb' ? mongodbConfigSchema.shape : sectionName === 'uploads' ? uploadsConfigSchema.shape : {};
  return key !== undefined && key in shape;
}

function redactorFor(config: FerryConfig): Redactor {
  const secrets: string[] = [];
  const pgPassword = config.postgres === undefined ? undefined : passwordOf(config.postgres.url);
  if (pgPassword !== undefined) secrets.push(pgPassword);
  if (config.mongodb !== undefined) {
    const mongoPassword = config.mongodb.password ?? passwordOf(config.mongodb.url);
    if (mongoPassword !== undefined) secrets.push(mongoPassword);
  }
  // Webhook URLs often carry their token in the path: never print them.
  for (const target of [config.notify?.on_failure, config.notify?.on_success]) {
    if (target?.webhook !== undefined) secrets.push(target.webhook);
  }
  const smtp = config.notify?.smtp;
  if (smtp?.password_env !== undefined) secrets.push(process.env[smtp.password_env] ?? '');
  if (smtp?.password_file !== undefined) {
    try {
      secrets.push(readFileSync(smtp.password_file, 'utf8').replace(/\r?\n$/, ''));
    } catch {
      // Unreadable: the e-mail notifier says so when it needs it.
    }
  }
  // Read from the environment where they are used; registered here so no message ever shows them.
  for (const name of ['AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'FERRY_MASK_KEY', 'PGPASSWORD']) {
    const value = process.env[name];
    if (value !== undefined && value !== '') secrets.push(value);
  }
  return new Redactor(secrets);
}

async function existing(path: string): Promise<string | undefined> {
  try {
    await stat(path);
    return path;
  } catch {
    return undefined;
  }
}

async function readYaml(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new FerryError('CONFIG_NOT_FOUND', `cannot read configuration file ${file}`, {
      hint: 'Check the --config path, or run without it to use ferry.config.yaml in the current folder or environment variables alone.',
      cause,
    });
  }
  try {
    // Unknown tags and directives become errors or plain values; never a warning printed by the parser.
    return parseYaml(text, { logLevel: 'error' });
  } catch (cause) {
    const where = cause instanceof YAMLParseError && cause.linePos ? `:${cause.linePos[0].line}` : '';
    const what = cause instanceof Error ? cause.message.split('\n')[0] : 'invalid YAML';
    throw new FerryError('CONFIG_YAML', `${file}${where}: ${what}`, { hint: 'Fix the YAML syntax at that line.', cause });
  }
}

function applyEnvOverrides(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, unknown> = structuredClone(raw);
  for (const { variable, path } of ENV_OVERRIDES) {
    const value = env[variable];
    if (value === undefined || value === '') continue;
    const keys = path.split('.');
    let target = out;
    for (const key of keys.slice(0, -1)) {
      const current = target[key];
      const next = current !== null && typeof current === 'object' && !Array.isArray(current) ? (current as Record<string, unknown>) : {};
      target[key] = next;
      target = next;
    }
    target[keys.at(-1) as string] = value;
  }
  return out;
}

function describeZodError(error: ZodError, file: string | undefined, env: NodeJS.ProcessEnv, fromFile: unknown): FerryError {
  const issue = error.issues[0];
  const path = issue?.path.join('.') ?? '';
  // The scripts' names fill only keys nothing else set: a key the file sets is the file's doing.
  const inFile = path.split('.').reduce<unknown>((tree, key) => (tree !== null && typeof tree === 'object' ? (tree as Record<string, unknown>)[key] : undefined), fromFile) !== undefined;
  const candidates = inFile ? ENV_OVERRIDES.filter((o) => o.path === path).map((o) => o.variable) : variablesFor(path);
  const fromEnv = candidates.find((v) => env[v] !== undefined && env[v] !== '');
  const where = fromEnv !== undefined ? `environment variable ${fromEnv}` : (file ?? 'environment');
  const message = issue?.code === 'unrecognized_keys' ? unknownKeys(issue.keys, issue.path, path) : (issue?.message ?? 'invalid');
  const setters = variablesFor(path);
  const hint = setters.length > 0 ? `Set ${path} in the config file or the ${setters.join(' / ')} environment variable.` : 'See docs/configuration.md for the keys and their types.';
  return new FerryError('CONFIG_INVALID', `${where}: ${path === '' ? '' : `${path}: `}${message}`, { hint, cause: error });
}

function unknownKeys(keys: readonly string[], at: ReadonlyArray<PropertyKey>, path: string): string {
  const known = keysAt(configSchema, at);
  return keys.map((key) => {
    const guess = closest(key, known);
    return `unknown key ${path ? `${path}.${key}` : key}${guess === undefined ? '' : `, did you mean ${guess}`}`;
  }).join('; ');
}

function resolvePaths(config: FerryConfig, base: string): FerryConfig {
  return {
    ...config,
    backup: {
      ...config.backup,
      directory: resolve(base, config.backup.directory),
      temp_directory: config.backup.temp_directory === undefined ? undefined : resolve(base, config.backup.temp_directory),
    },
    uploads: config.uploads === undefined ? undefined : { ...config.uploads, ...(config.uploads.path === undefined ? {} : { path: resolve(base, config.uploads.path) }) },
    postgres: config.postgres === undefined ? undefined : { ...config.postgres, bin_dir: config.postgres.bin_dir === undefined ? undefined : resolve(base, config.postgres.bin_dir) },
  };
}
