import { readFileSync } from 'node:fs';

/** Ferry's own version, from package.json, recorded in every manifest. */
export const FERRY_VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
