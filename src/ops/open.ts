import { loadConfig, type FerryConfig } from '../config/index.js';
import { silentProgress, type Logger, type ProgressReporter } from '../stores/index.js';
import { silentLogger, type OperationContext } from './context.js';
import { keysFrom } from './keys.js';

export interface OpenOptions {
  /** A configuration file; without it, ferry.config.yaml in the working folder if present, else the environment alone. */
  configFile?: string;
  /** Cancels the operation (Ctrl-C in the CLI). */
  signal?: AbortSignal;
  /** Where log lines go; nothing is printed by default. */
  log?: Logger;
  progress?: ProgressReporter;
  /** age identity files for encrypted archives. */
  identityFiles?: string[];
  /** .env-style files loaded into process.env first; variables already set win (--env-file). */
  envFiles?: string[];
}

export interface OpenedContext {
  ctx: OperationContext;
  config: FerryConfig;
  /** Problems the configuration has that do not stop it (e.g. a readable file holding a password). */
  warnings: string[];
  /** Choices made for the user that a log should mention (defaults of environment-only mode). */
  notes: string[];
}

/**
 * The context every library operation takes, built the way the CLI builds it: the configuration
 * (file and environment, validated), the redactor that knows its secrets, keys, signal and logger.
 */
export async function openContext(options: OpenOptions = {}): Promise<OpenedContext> {
  const loaded = await loadConfig({ ...(options.configFile === undefined ? {} : { file: options.configFile }), ...(options.envFiles === undefined ? {} : { envFiles: options.envFiles }) });
  const keys = keysFrom(options.identityFiles ?? [], process.env);
  const redactor = loaded.redactor.with([...keys.identities, ...(keys.passphrase === undefined ? [] : [keys.passphrase])]);
  return {
    ctx: {
      config: loaded.config,
      redactor,
      signal: options.signal ?? new AbortController().signal,
      log: options.log ?? silentLogger,
      progress: options.progress ?? silentProgress,
      keys,
    },
    config: loaded.config,
    warnings: loaded.warnings,
    notes: loaded.notes,
  };
}
