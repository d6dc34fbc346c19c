import { FerryError } from '../errors/index.js';
import { postgresUrlProblem } from './connection-url.js';
import { LibpqProblem, resolveConnection } from './libpq.js';

/**
 * Puts libpq's conventions into the merged configuration: postgres.url (from the file, DATABASE_URL
 * or FERRY_POSTGRES_URL) keeps every part it names; the service, PG* variables and password file
 * fill the rest. Without a config file, PGHOST, PGHOSTADDR, PGDATABASE or PGSERVICE alone configure
 * the store, as they do for pg_dump; with one, a `postgres:` section must be there. Returns warnings.
 */
export function applyLibpq(tree: Record<string, unknown>, env: NodeJS.ProcessEnv, environmentOnly: boolean): string[] {
  const value = tree.postgres;
  const section = value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  if (section === undefined && (value !== undefined || !environmentOnly)) return [];
  const url = section?.url;
  // A malformed or mistyped URL is left for the schema, which names the variable that set it.
  if (url !== undefined && (typeof url !== 'string' || postgresUrlProblem(url) !== undefined)) return [];
  let resolved: ReturnType<typeof resolveConnection>;
  try {
    resolved = resolveConnection(url, env);
  } catch (error) {
    if (!(error instanceof LibpqProblem)) throw error;
    throw new FerryError('CONFIG_INVALID', `${error.where}: ${error.message}`, {
      hint: 'Fix that setting, or name the connection in DATABASE_URL (or postgres.url), whose parts win over the PG* variables and the service file.',
    });
  }
  if (resolved === undefined) return [];
  tree.postgres = { ...section, url: resolved.url };
  return resolved.warnings;
}
