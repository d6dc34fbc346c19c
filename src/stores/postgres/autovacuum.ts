/**
 * Autovacuum analyses the tables of the database being built beside the target soon after their
 * rows land, holding a lock that CREATE INDEX, ADD CONSTRAINT and VALIDATE CONSTRAINT queue behind.
 * The server cancels an autovacuum that blocks another session only once that session has waited
 * deadlock_timeout (1 s by default), and again for each table: at size l the keys added after the
 * load waited 0.6 to 1.9 s in two runs of three. A shorter deadlock_timeout in the restore's own
 * sessions makes autovacuum yield at once; the tables are analysed on its next round. Only a
 * superuser may set it (a role given SET on it from PostgreSQL 15 is not looked for).
 */
const DEADLOCK_TIMEOUT = '50ms';

/** The PGOPTIONS a client tool connects with: the caller's own, plus the short deadlock_timeout. */
export function yieldingToolOptions(superuser: boolean, inherited: string | undefined = process.env.PGOPTIONS): Record<string, string> {
  if (!superuser) return {};
  return { PGOPTIONS: [inherited?.trim(), `-c deadlock_timeout=${DEADLOCK_TIMEOUT}`].filter((part) => part !== undefined && part !== '').join(' ') };
}

/** The same for a session of Ferry's own. */
export function yieldingSessionSql(superuser: boolean): string {
  return superuser ? `SET deadlock_timeout = '${DEADLOCK_TIMEOUT}'` : '';
}
