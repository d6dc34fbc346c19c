import { z } from 'zod';

const nonEmpty = z.string().trim().min(1, 'expected a non-empty string');
const count = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const flag = z.preprocess((v) => (typeof v === 'string' ? !['0', 'false', 'no', 'off', ''].includes(v.toLowerCase()) : v), z.boolean());

export const postgresConfigSchema = z.object({
  url: nonEmpty.describe('PostgreSQL connection URL (postgresql://user:password@host:5432/db)'),
  bin_dir: nonEmpty.optional().describe('folder holding pg_dump, pg_restore and psql; skips discovery'),
  connect_timeout_seconds: count(1, 3600).default(10),
});

export const uploadsConfigSchema = z.object({
  path: nonEmpty.describe('the uploads folder to back up and restore'),
  strict: flag.default(false).describe('fail the backup when a file cannot be read, instead of warning'),
});

export const backupConfigSchema = z.object({
  directory: nonEmpty.default('./backups'),
  retention_days: count(0, 36500).default(7),
  compression_level: count(0, 9).default(6),
  temp_directory: nonEmpty.optional().describe('where PostgreSQL dumps are staged; defaults to the backup directory'),
});

export const configSchema = z.object({
  backup: backupConfigSchema.default(() => backupConfigSchema.parse({})),
  postgres: postgresConfigSchema.optional(),
  uploads: uploadsConfigSchema.optional(),
}).strict();

export type FerryConfig = z.infer<typeof configSchema>;
export type PostgresConfig = z.infer<typeof postgresConfigSchema>;
export type UploadsConfig = z.infer<typeof uploadsConfigSchema>;
export type BackupConfig = z.infer<typeof backupConfigSchema>;

export function defaultConfig(): FerryConfig {
  return configSchema.parse({});
}
