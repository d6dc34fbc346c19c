import { databaseOf, withClient, type PgTarget } from './connection.js';

export interface ServerFacts {
  version: string;
  major: number;
  /** system_identifier and database: the same cluster and database give the same fingerprint. */
  fingerprint: string;
  databaseBytes: number;
}

export async function serverFacts(target: PgTarget): Promise<ServerFacts> {
  return withClient(target, async (client) => {
    const versionRow = await client.query<{ num: string; size: string }>(
      "SELECT current_setting('server_version_num') AS num, pg_database_size(current_database())::text AS size",
    );
    const num = Number(versionRow.rows[0]?.num ?? 0);
    const major = Math.floor(num / 10000);
    const version = major >= 10 ? `${major}.${num % 10000}` : `${Math.floor(num / 10000)}.${Math.floor(num / 100) % 100}.${num % 100}`;
    let identity: string;
    try {
      const sys = await client.query<{ id: string }>('SELECT system_identifier::text AS id FROM pg_control_system()');
      identity = `system ${sys.rows[0]?.id ?? '?'}`;
    } catch {
      // Without access to pg_control_system, host and port identify the server.
      const u = new URL(target.url);
      identity = `host ${u.hostname}:${u.port || '5432'}`;
    }
    return {
      version,
      major,
      fingerprint: `postgres ${identity} database ${databaseOf(target.url)}`,
      databaseBytes: Number(versionRow.rows[0]?.size ?? 0),
    };
  });
}
