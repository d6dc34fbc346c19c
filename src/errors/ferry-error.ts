import { type ErrorCode, exitCodeFor } from './codes.js';

export interface FerryErrorOptions {
  /** A full sentence telling the user what to do. */
  hint?: string;
  cause?: unknown;
}

/** An expected failure: reported as one line plus a hint, never with a stack trace. */
export class FerryError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, options: FerryErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FerryError';
    this.code = code;
    this.hint = options.hint;
  }

  get exitCode(): number {
    return exitCodeFor(this.code);
  }
}

export function isFerryError(error: unknown): error is FerryError {
  return error instanceof FerryError;
}

export function interrupted(): FerryError {
  return new FerryError('INTERRUPTED', 'interrupted', {
    hint: 'Nothing was kept from the interrupted run; run the command again when ready.',
  });
}

/** Turns an AbortSignal that fired into the INTERRUPTED error. */
export function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw interrupted();
}
