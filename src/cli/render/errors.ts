import { EXIT, FerryError } from '../../errors/index.js';
import type { Redactor } from '../../config/index.js';
import { FERRY_VERSION } from '../../version.js';

export interface ReportedFailure {
  exitCode: number;
}

/**
 * The one place that turns an error into output and an exit code. Expected failures (FerryError)
 * print one line and a hint; anything else is a bug and prints what a bug report needs.
 */
export function reportFailure(error: unknown, redactor: Redactor, json: boolean, logFormat: 'text' | 'json' = 'text'): ReportedFailure {
  if (error instanceof FerryError) {
    const message = redactor.redact(error.message);
    const hint = error.hint === undefined ? undefined : redactor.redact(error.hint);
    if (json) process.stdout.write(JSON.stringify({ error: { code: error.code, message, hint, exitCode: error.exitCode } }, null, 2) + '\n');
    if (logFormat === 'json') {
      process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level: 'error', msg: message, code: error.code, hint, exitCode: error.exitCode })}\n`);
    } else {
      process.stderr.write(`ferry: ${message}\n`);
      if (hint !== undefined) process.stderr.write(`hint: ${hint}\n`);
    }
    return { exitCode: error.exitCode };
  }
  const stack = error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(
    `ferry: unexpected error (this is a bug, please report it with the lines below)\n` +
      `${redactor.redact(stack)}\n` +
      `ferry ${FERRY_VERSION}, node ${process.version}, ${process.platform}-${process.arch}\n`,
  );
  if (json) process.stdout.write(JSON.stringify({ error: { code: 'BUG', message: redactor.redact(String(error)), exitCode: EXIT.failed } }, null, 2) + '\n');
  return { exitCode: EXIT.failed };
}
