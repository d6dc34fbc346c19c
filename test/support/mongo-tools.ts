import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * The real mongodump/mongorestore/bsondump that ../shared/tools/mongo-tools/build.sh builds (and
 * .ci/run builds before the tests); FERRY_MONGO_TOOLS names another folder.
 */
export function mongoToolsDir(): string | undefined {
  const dir = process.env.FERRY_MONGO_TOOLS ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'ferry-mongo-tools', '100.11.0');
  return existsSync(join(dir, 'mongorestore')) ? dir : undefined;
}
