#!/usr/bin/env node
import { CommanderError } from 'commander';
import { Redactor } from '../config/index.js';
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
      // Help and version exit 0; every other parse error is a usage error.
      process.exitCode = error.exitCode === 0 ? 0 : reportUsageError(error, wantsJson(process.argv)).exitCode;
      return;
    }
    process.exitCode = reportFailure(error, new Redactor(), wantsJson(process.argv)).exitCode;
  }
}

// Not a top-level await: the single executable bundles this file as CommonJS, which has none.
void main();
