export { ERROR_CODES, EXIT, exitCodeFor, type ErrorCode, type ExitClass } from './codes.js';
export { FerryError, isFerryError, interrupted, throwIfAborted, type FerryErrorOptions } from './ferry-error.js';
