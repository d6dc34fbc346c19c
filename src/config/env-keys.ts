import { SCRIPT_NAMES } from './script-names.js';

/**
 * Which environment variable overrides which configuration key. The legacy names are the ones the
 * Le Grimoire shell scripts used; every key also has a FERRY_<SECTION>_<KEY> name.
 */
const LEGACY_NAMES: Record<string, string> = {
  DATABASE_URL: 'postgres.url',
  UPLOADS_DIR: 'uploads.path',
  BACKUP_DIRECTORY: 'backup.directory',
  BACKUP_RETENTION_DAYS: 'backup.retention_days',
  MONGODB_URL: 'mongodb.url',
  MONGODB_DB_NAME: 'mongodb.database',
  MONGODB_USER: 'mongodb.user',
  MONGODB_PASSWORD: 'mongodb.password',
};

const KEY_PATHS = [
  'backup.directory',
  'backup.retention_days',
  'backup.keep_last',
  'backup.keep_daily',
  'backup.keep_weekly',
  'backup.keep_monthly',
  'backup.keep_yearly',
  'backup.compression',
  'backup.compression_level',
  'backup.encryption.recipients',
  'backup.encryption.passphrase_file',
  'backup.temp_directory',
  'backup.latest_link',
  'postgres.url',
  'postgres.bin_dir',
  'postgres.exec',
  'postgres.connect_timeout_seconds',
  'postgres.dump_compression',
  'postgres.required_tables',
  'mongodb.url',
  'mongodb.database',
  'mongodb.user',
  'mongodb.password',
  'mongodb.collections',
  'mongodb.export_collections',
  'mongodb.server_selection_timeout_seconds',
  'mongodb.insert_batch_size',
  'mongodb.read_preference',
  'mongodb.bypass_document_validation',
  'mongodb.required_collections',
  'mongodb.exec',
  'mongodb.exec_transfer',
  'notify.on_failure.webhook',
  'notify.on_success.webhook',
  'notify.timeout_seconds',
  'uploads.path',
  'uploads.strict',
  'uploads.exec',
  'uploads.incremental',
  'uploads.full_every',
  'storage.remote',
  'storage.endpoint',
  'storage.region',
  'storage.force_path_style',
  'storage.part_size_mb',
  'storage.upload_concurrency',
  'storage.upload_after_backup',
  'restore.strategy',
  'restore.disconnect',
  'restore.keep_pristine',
  'serve.listen',
  'serve.allow_actions',
  'serve.password_hash',
] as const;

function ferryName(path: string): string {
  return `FERRY_${path.replace(/\./g, '_').toUpperCase()}`;
}

export const ENV_OVERRIDES: ReadonlyArray<{ variable: string; path: string }> = [
  ...Object.entries(LEGACY_NAMES).map(([variable, path]) => ({ variable, path })),
  ...KEY_PATHS.map((path) => ({ variable: ferryName(path), path })),
];

/** The environment variable names that can set a key, for error messages; the scripts' names last. */
export function variablesFor(path: string): string[] {
  return [...ENV_OVERRIDES, ...SCRIPT_NAMES].filter((o) => o.path === path).map((o) => o.variable);
}
