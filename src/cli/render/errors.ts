import { EXIT, FerryError } from '../../errors/index.js';
import type { Redactor } from '../../config/index.js';
import { FERRY_VERSION } from '../../version.js';
import { errorJson, jsonDocument } from './json.js';

export interface ReportedFailure {
  exitCode: number;
}

/**
 * The one place that turns an error into output and an exit code. Expected failures (FerryError)
 * print one line and a hint; anything else is a bug and prints what a bug report needs.
 */
export function reportFailure(error: unknown, redactor: Redactor, json: boolean, logFormat: 'text' | 'json' = 'text', document: object = {}): ReportedFailure {
  if (error instanceof FerryError) {
    const message = redactor.redact(error.message);
    const hint = error.hint === undefined ? undefined : redactor.redact(error.hint);
    if (json) process.stdout.write(redactor.redact(jsonDocument({ ...document, ...errorJson({ code: error.code, message, hint, exitCode: error.exitCode }) })) + '\n');
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
  if (json) process.stdout.write(redactor.redact(jsonDocument({ ...document, ...errorJson({ code: 'BUG', message: String(error), hint: 'This is a bug: please report it with the lines printed on stderr.', exitCode: EXIT.failed }) })) + '\n');
  return { exitCode: EXIT.failed };
}

/**
 * A command line the parser refused (unknown command or option, missing argument): said as every
 * other error is ("ferry: …" and a hint on stderr), or with --json as the one error shape on stdout; exit 3.
 */
export function reportUsageError(error: { message: string }, json: boolean): ReportedFailure {
  const [first = '', ...rest] = error.message.split('\n');
  const suggestion = rest.join(' ').trim().replace(/^\((.*)\)$/, '$1');
  const hint = suggestion !== '' ? suggestion : 'ferry --help lists the commands; ferry <command> --help lists its options.';
  const message = first.replace(/^error: /, '');
  if (json) process.stdout.write(jsonDocument(errorJson({ code: 'USAGE', message, hint, exitCode: EXIT.usage })) + '\n');
  else process.stderr.write(`ferry: ${message}\nhint: ${hint}\n`);
  return { exitCode: EXIT.usage };
}
