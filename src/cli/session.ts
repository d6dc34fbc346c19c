import { Redactor } from '../config/index.js';
import type { OperationContext } from '../ops/context.js';
import { openContext } from '../ops/open.js';
import { Output, type OutputOptions } from './render/output.js';

export interface GlobalOptions extends Omit<OutputOptions, 'logFormat'> {
  config?: string;
  logFormat?: string;
  identity?: string[];
  envFile?: string[];
}

/** Everything a command needs: loaded configuration, output, and the signal Ctrl-C fires. */
export interface Session {
  output: Output;
  ctx: OperationContext;
  options: GlobalOptions;
}

export async function openSession(options: GlobalOptions, output: Output, signal: AbortSignal): Promise<Session> {
  const { ctx, warnings, notes } = await openContext({
    ...(options.config === undefined ? {} : { configFile: options.config }),
    ...(options.envFile === undefined ? {} : { envFiles: options.envFile }),
    signal, log: output.logger, progress: output.progress, identityFiles: options.identity ?? [],
  });
  output.setRedactor(ctx.redactor);
  for (const warning of warnings) output.logger.warn(warning);
  for (const note of notes) output.logger.info(note);
  return { output, options, ctx };
}

export function bootstrapOutput(options: GlobalOptions): Output {
  return new Output({ json: options.json, quiet: options.quiet, verbose: options.verbose, logFormat: options.logFormat === 'json' ? 'json' : 'text' }, new Redactor());
}
