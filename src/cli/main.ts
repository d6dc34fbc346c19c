#!/usr/bin/env node
import { CommanderError } from 'commander';
import { Redactor } from '../config/index.js';
import { EXIT } from '../errors/index.js';
import { buildProgram } from './program.js';
import { reportFailure } from './render/errors.js';

async function main(): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(process.argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version exit 0; every other parse error is a usage error.
      process.exitCode = error.exitCode === 0 ? 0 : EXIT.usage;
      return;
    }
    process.exitCode = reportFailure(error, new Redactor(), false).exitCode;
  }
}

// Not a top-level await: the single executable bundles this file as CommonJS, which has none.
void main();
