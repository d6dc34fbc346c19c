import type { DecryptionKeys } from '../archive/index.js';
import type { FerryConfig, Redactor } from '../config/index.js';
import { silentProgress, type Logger, type ProgressReporter } from '../stores/index.js';

/** What every use case receives: configuration, cancellation and where to report. */
export interface OperationContext {
  config: FerryConfig;
  redactor: Redactor;
  signal: AbortSignal;
  log: Logger;
  progress: ProgressReporter;
  /** Keys for encrypted archives (restore, verify, inspect). */
  keys?: DecryptionKeys;
  /** The clock, injectable so retention and ages can be tested. */
  now?: () => Date;
}

export const silentLogger: Logger = { info: () => undefined, warn: () => undefined, debug: () => undefined };
export { silentProgress };
