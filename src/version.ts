import { readFileSync } from 'node:fs';

/** Set by the single-executable build (scripts/build-exe.mjs), which has no package.json beside it. */
declare const FERRY_BUNDLED_VERSION: string | undefined;

/** Ferry's own version, from package.json, recorded in every manifest. */
export const FERRY_VERSION: string = typeof FERRY_BUNDLED_VERSION === 'string'
  ? FERRY_BUNDLED_VERSION
  : (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
