import { describe, expect, it } from 'vitest';
import { ferry } from '../support/cli.js';
import { FERRY_VERSION } from '../../src/version.js';

describe('CLI habits (issue 24 item 12)', () => {
  it.each([
    [['key', 'gen'], /^ferry: unknown command 'gen'\nhint: Did you mean ferry key generate\?$/m],
    [['check'], /^ferry: unknown command 'check'\nhint: Did you mean ferry verify <archive> \(an archive\) or ferry db check \(the databases\)\?$/m],
    [['check', 'latest', '--deep'], /Did you mean ferry verify <archive>/],
    [['verfy', 'latest'], /^ferry: unknown command 'verfy'\nhint: Did you mean verify\?$/m],
  ])('ferry %j suggests the command meant, exit 3', async (args, suggestion) => {
    const result = await ferry(args, {});
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(suggestion);
  });

  it('ferry version prints what --version prints: name, version, Node.js and platform', async () => {
    const line = `ferry ${FERRY_VERSION} (node ${process.version}, ${process.platform}-${process.arch})\n`;
    for (const args of [['version'], ['--version'], ['-V']]) {
      const result = await ferry(args, {});
      expect(result.code, args.join(' ')).toBe(0);
      expect(result.stdout).toBe(line);
    }
  });
});
