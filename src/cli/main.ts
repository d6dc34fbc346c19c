#!/usr/bin/env node
import { CommanderError } from 'commander';
import { Redactor } from '../config/index.js';
import { EXIT } from '../errors/index.js';
import { buildProgram } from './program.js';
import { reportFailure, reportUsageError } from './render/errors.js';

/** Whether --json was given, read from the raw arguments because parsing them is what failed. */
function wantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).includes('--json');
}

async function main(): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(process.argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version exit 0; every other parse error is a usage error. No command at all shows
      // the help (on stderr): that is the message, unless JSON was asked for.
      const json = wantsJson(process.argv);
      if (error.exitCode === 0) process.exitCode = 0;
      else if (error.code === 'commander.help' && !json) process.exitCode = EXIT.usage;
      else process.exitCode = reportUsageError(error.code === 'commander.help' ? { message: 'no command given' } : error, json).exitCode;
      return;
    }
    process.exitCode = reportFailure(error, new Redactor(), wantsJson(process.argv)).exitCode;
  }
}

/**
 * A reader that stops early (`ferry list | head`) closes the pipe: what is left to print is dropped,
 * as a Unix tool killed by SIGPIPE would, while the command itself finishes (a restore is never cut
 * short by its output's reader going away).
 */
function dropOutputToClosedPipes(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE' && error.code !== 'ERR_STREAM_DESTROYED') throw error;
    });
  }
}

dropOutputToClosedPipes();
// Not a top-level await: the single executable bundles this file as CommonJS, which has none.
void main();
