import { expect } from 'vitest';

// toEqual walks a Buffer element by element (seconds per megabyte): archives and files are
// compared as bytes instead. Anything else is left to the usual comparison.
expect.addEqualityTesters([(a: unknown, b: unknown) => (Buffer.isBuffer(a) && Buffer.isBuffer(b) ? a.equals(b) : undefined)]);
