/**
 * The one catalogue of failures Ferry reports. Code, docs/troubleshooting.md and tests all read it:
 * a test checks that every code here is documented there.
 */
export const EXIT = {
  ok: 0,
  failed: 1,
  integrity: 2,
  usage: 3,
  refused: 4,
  interrupted: 130,
} as const;

export type ExitClass = keyof typeof EXIT;

interface CodeDefinition {
  readonly exit: ExitClass;
  readonly summary: string;
}

export const ERROR_CODES = {
  CONFIG_NOT_FOUND: { exit: 'usage', summary: 'the configuration file does not exist' },
  CONFIG_INVALID: { exit: 'usage', summary: 'a configuration value is missing or has the wrong shape' },
  CONFIG_YAML: { exit: 'usage', summary: 'the configuration file is not valid YAML' },
  USAGE: { exit: 'usage', summary: 'the command line is incomplete or contradictory' },
  NO_STORES: { exit: 'usage', summary: 'no store is configured, so there is nothing to back up or restore' },
  PG_TOOL_MISSING: { exit: 'failed', summary: 'pg_dump, pg_restore or psql was not found' },
  PG_TOOL_TOO_OLD: { exit: 'failed', summary: 'the PostgreSQL client tools are older than the server' },
  PG_CONNECT: { exit: 'failed', summary: 'the PostgreSQL server could not be reached' },
  PG_AUTH: { exit: 'failed', summary: 'the PostgreSQL server rejected the credentials' },
  PG_DATABASE_MISSING: { exit: 'failed', summary: 'the PostgreSQL database does not exist' },
  PG_DUMP_FAILED: { exit: 'failed', summary: 'pg_dump or pg_restore exited with an error' },
  PG_RESTORE_FAILED: { exit: 'failed', summary: 'pg_restore failed; the single transaction left the target as it was' },
  MONGO_CONNECT: { exit: 'failed', summary: 'the MongoDB server could not be reached' },
  MONGO_AUTH: { exit: 'failed', summary: 'the MongoDB server rejected the credentials or the user lacks a role' },
  MONGO_DATABASE_MISSING: { exit: 'failed', summary: 'the MongoDB database does not exist or has no collections' },
  MONGO_DUPLICATE_KEY: { exit: 'integrity', summary: 'a dump holds two documents with the same _id' },
  MONGO_FAILED: { exit: 'failed', summary: 'a MongoDB command failed' },
  MONGO_ARCHIVE_CORRUPT: { exit: 'integrity', summary: 'a mongodump archive stream (mongodb.exec) is cut short, malformed, or a collection fails its CRC-64 check' },
  MONGO_TOOL_FAILED: { exit: 'failed', summary: 'mongodump or mongorestore in the MongoDB container (mongodb.exec) exited with an error' },
  MONGO_VERSION_UNSUPPORTED: { exit: 'failed', summary: 'the target MongoDB version cannot take a collection option or index kind the archive holds' },
  UPLOADS_MISSING: { exit: 'failed', summary: 'the uploads folder does not exist' },
  UPLOADS_UNREADABLE: { exit: 'failed', summary: 'files in the uploads folder could not be read (with --strict)' },
  UPLOADS_SWAP_FAILED: { exit: 'failed', summary: 'the restored uploads folder could not be moved into place' },
  UPLOADS_TARGET_UNWRITABLE: { exit: 'failed', summary: 'the restored uploads cannot be written beside (or inside) the uploads folder' },
  BACKUP_DIR_UNWRITABLE: { exit: 'failed', summary: 'the backup directory cannot be created or written' },
  DISK_FULL: { exit: 'failed', summary: 'the disk ran out of space while writing' },
  BACKUP_LOCKED: { exit: 'refused', summary: 'another ferry backup is running in the same backup directory' },
  ARCHIVE_NOT_FOUND: { exit: 'usage', summary: 'the named archive (or any archive, for latest) does not exist' },
  ZSTD_UNAVAILABLE: { exit: 'failed', summary: 'zstd is needed (backup.compression: zstd, or a .tar.zst archive) and this machine has none' },
  ARCHIVE_CORRUPT: { exit: 'integrity', summary: 'the archive is truncated, not gzip/tar, or an entry does not match its checksum' },
  ARCHIVE_ENTRY_MISSING: { exit: 'integrity', summary: 'an entry listed in the manifest is not in the archive' },
  ARCHIVE_FORMAT_UNSUPPORTED: { exit: 'integrity', summary: 'the archive was written by a newer Ferry with an unknown format version' },
  COUNT_MISMATCH: { exit: 'integrity', summary: 'restored row counts differ from the manifest' },
  STORE_NOT_IN_ARCHIVE: { exit: 'usage', summary: 'a store asked for with --only is not in the archive' },
  RESTORE_INTO_SOURCE: { exit: 'refused', summary: 'the restore target is the database the archive was taken from' },
  RESTORE_TARGET_REMOTE: { exit: 'refused', summary: 'the restore target is on a host that is not clearly local' },
  CONFIRMATION_REQUIRED: { exit: 'refused', summary: 'a restore needs confirmation and there is no terminal to ask on' },
  RESTORE_DECLINED: { exit: 'refused', summary: 'the restore was declined at the confirmation prompt' },
  DB_NOT_READY: { exit: 'failed', summary: 'a database did not answer within --wait' },
  DB_CHECK_FAILED: { exit: 'failed', summary: 'required tables or collections are missing' },
  DB_INIT_CONFLICT: { exit: 'failed', summary: 'a declared index exists with another definition (reported, not dropped)' },
  DECRYPT_KEY_MISSING: { exit: 'usage', summary: 'an archive is encrypted and no usable key was given' },
  DECRYPT_WRONG_KEY: { exit: 'usage', summary: 'none of the given age identities or passphrases opens the archive' },
  REMOTE_NOT_CONFIGURED: { exit: 'usage', summary: 'a remote command was given but storage.remote is not set' },
  REMOTE_AUTH: { exit: 'failed', summary: 'the S3 store rejected the credentials, or they lack a permission' },
  REMOTE_BUCKET_MISSING: { exit: 'failed', summary: 'the S3 bucket does not exist' },
  REMOTE_UNREACHABLE: { exit: 'failed', summary: 'the S3 endpoint could not be reached' },
  REMOTE_FAILED: { exit: 'failed', summary: 'an S3 request failed after its retries' },
  REMOTE_CHECKSUM_MISMATCH: { exit: 'integrity', summary: 'a remote copy differs from the archive it was uploaded from' },
  REMOTE_INCOMPLETE: { exit: 'failed', summary: 'a remote backup lacks its .sha256 sidecar: its upload did not finish' },
  ARCHIVE_EXISTS: { exit: 'refused', summary: 'a different archive with that name is already in the backup directory' },
  MASK_KEY_MISSING: { exit: 'usage', summary: 'masking rules apply and FERRY_MASK_KEY is unset or too short' },
  MASK_RULE_UNKNOWN: { exit: 'usage', summary: 'a masking rule names a table, column, collection or field the archive does not have' },
  MASK_VALUE_UNSUPPORTED: { exit: 'usage', summary: 'a MongoDB masking rule meets a value its transformer cannot mask (a sub-document, a date, …)' },
  INTERRUPTED: { exit: 'interrupted', summary: 'the run was interrupted (Ctrl-C or SIGTERM) and cleaned up' },
  RESTORE_TARGET_IN_USE: { exit: 'refused', summary: 'sessions are connected to the restore target; --force (restore.disconnect) terminates them' },
  RESTORE_TABLES_REFERENCED: { exit: 'refused', summary: '--tables selects a table that other, unselected tables reference; --cascade empties those too' },
  RESTORE_HOOK_FAILED: { exit: 'failed', summary: 'a restore.before or restore.after command failed or timed out' },
  NOTHING_TO_UNDO: { exit: 'usage', summary: 'ferry restore --undo found no previous copy kept by a restore' },
  NOTHING_TO_RESET: { exit: 'usage', summary: 'ferry reset found no pristine copy (restore.keep_pristine was off at the last restore)' },
  NOTIFY_FAILED: { exit: 'failed', summary: 'ferry notify test: a configured notifier (webhook, command or e-mail) failed' },
  DEMO_FAILED: { exit: 'failed', summary: 'the demo could not start its throw-away database' },
  CHAIN_LINK_MISSING: { exit: 'integrity', summary: 'a delta backup\'s base (or a backup further down its chain) is missing or is not the archive it was built on' },
  CONTAINER_UNREACHABLE: { exit: 'failed', summary: 'docker is missing, or the container named by postgres.exec, mongodb.exec or uploads.exec is not running or lacks what Ferry runs in it' },
  COMPOSE_UNAVAILABLE: { exit: 'failed', summary: 'a compose:// container is named and neither `docker compose` nor `docker-compose` works' },
  SERVE_UNPROTECTED: { exit: 'usage', summary: 'ferry serve was asked to listen on a non-loopback address without authentication' },
  SERVE_LISTEN: { exit: 'failed', summary: 'ferry serve cannot listen on the address given (in use, or not an address of this machine)' },
} as const satisfies Record<string, CodeDefinition>;

export type ErrorCode = keyof typeof ERROR_CODES;

export function exitCodeFor(code: ErrorCode): number {
  return EXIT[ERROR_CODES[code].exit];
}
