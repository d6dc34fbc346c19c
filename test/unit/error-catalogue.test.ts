import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, EXIT } from '../../src/errors/codes.js';

describe('the error catalogue and docs/troubleshooting.md', () => {
  it('documents every code with its exit code, and nothing that does not exist', async () => {
    const doc = await readFile(new URL('../../docs/troubleshooting.md', import.meta.url), 'utf8');
    const documented = new Map([...doc.matchAll(/^\| `([A-Z_]+)` \| (\d+) \|/gm)].map((m) => [m[1]!, Number(m[2])]));
    const defined = new Map(Object.entries(ERROR_CODES).map(([code, def]) => [code, EXIT[def.exit]]));
    expect(documented).toEqual(defined);
  });
});
