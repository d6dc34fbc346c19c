import { loadConfig, Redactor, type LoadedConfig } from '../config/index.js';
import type { OperationContext } from '../ops/context.js';
import { keysFrom } from '../ops/keys.js';
import { Output, type OutputOptions } from './render/output.js';

export interface GlobalOptions extends Omit<OutputOptions, 'logFormat'> {
  config?: string;
  logFormat?: string;
  identity?: string[];
}

/** Everything a command needs: loaded configuration, output, and the signal Ctrl-C fires. */
export interface Session {
  output: Output;
  loaded: LoadedConfig;
  ctx: OperationContext;
  options: GlobalOptions;
}

export async function openSession(options: GlobalOptions, output: Output, signal: AbortSignal): Promise<Session> {
  const loaded = await loadConfig(options.config === undefined ? {} : { file: options.config });
  const keys = keysFrom(options.identity ?? [], process.env);
  const redactor = loaded.redactor.with([...keys.identities, ...(keys.passphrase === undefined ? [] : [keys.passphrase])]);
  loaded.redactor = redactor;
  output.setRedactor(redactor);
  for (const warning of loaded.warnings) output.logger.warn(warning);
  return {
    output,
    loaded,
    options,
    ctx: { config: loaded.config, redactor, signal, log: output.logger, progress: output.progress, keys },
  };
}

export function bootstrapOutput(options: GlobalOptions): Output {
  return new Output({ json: options.json, quiet: options.quiet, verbose: options.verbose, logFormat: options.logFormat === 'json' ? 'json' : 'text' }, new Redactor());
}
