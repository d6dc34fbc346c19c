export { loadConfig, DEFAULT_CONFIG_FILE, type LoadedConfig, type LoadConfigOptions } from './load.js';
export { Redactor, urlWithoutPassword, passwordOf } from './redact.js';
export { ENV_OVERRIDES } from './env-keys.js';
export { archiveCompression, dumpCompression, type ArchiveCompression } from './compression.js';
export type { FerryConfig, PostgresConfig, MongodbConfig, UploadsConfig, BackupConfig, NotifyConfig, StorageConfig, MaskConfig, RestoreConfig, SmtpConfig, AnomaliesConfig } from './schema.js';
