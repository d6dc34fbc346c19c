import { z } from 'zod';
import { parseTransformer } from '../mask/transformers.js';
import { mongodbUrlProblem, postgresUrlProblem } from './connection-url.js';
import { mongoCollectionNameProblem, postgresTableNameProblem } from './object-names.js';

const nonEmpty = z.string().trim().min(1, 'expected a non-empty string');
// Environment values are strings: only plain decimal digits count (not 0x10, 1e1, 10.0 or " 1_0").
const count = (min: number, max: number) => z.preprocess(
  (v) => (typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : v),
  // Each check its own message: the schema's would otherwise call 0 "no whole number".
  z.number({ error: 'expected a whole number written in decimal digits' }).int('expected a whole number written in decimal digits')
    .min(min, { error: (issue) => `expected at least ${min}, got ${String(issue.input)}` }).max(max, { error: (issue) => `expected at most ${max}, got ${String(issue.input)}` }),
);
// Only these words: anything else (a typo such as "flase") would otherwise be read as true.
const FLAG_WORDS = new Map([['1', true], ['true', true], ['yes', true], ['on', true], ['0', false], ['false', false], ['no', false], ['off', false], ['', false]]);
const flag = z.preprocess(
  (v) => (typeof v === 'string' ? FLAG_WORDS.get(v.trim().toLowerCase()) ?? v : v),
  z.boolean({ error: 'expected true or false (yes/no, on/off, 1/0)' }),
);

const nameList = z.preprocess(
  (v) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter((s) => s !== '') : v),
  z.array(nonEmpty),
);

export const postgresConfigSchema = z.object({
  url: nonEmpty.superRefine((url, ctx) => {
    const problem = postgresUrlProblem(url);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
  }).describe('PostgreSQL connection URL (postgresql://user:password@host:5432/db)'),
  bin_dir: nonEmpty.optional().describe('folder holding pg_dump, pg_restore and psql; skips discovery'),
  exec: z.string().regex(/^(docker|compose):\/\/[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'expected docker://<container> or compose://<service>').optional()
    .describe('run the PostgreSQL tools inside the database container'),
  connect_timeout_seconds: count(1, 3600).default(10),
  dump_compression: count(0, 9).optional().describe('pg_dump --compress level of the custom-format dump; default 1, or 0 with backup.compression: zstd'),
  required_tables: nameList.default([]).describe('tables ferry db check requires (schema.table or table)'),
}).strict();

export const uploadsConfigSchema = z.object({
  path: nonEmpty.optional().describe('the uploads folder to back up and restore'),
  exec: z.string().regex(/^(docker|compose):\/\/[A-Za-z0-9][A-Za-z0-9_.-]*:\/.*$/, 'expected docker://<container>:/path or compose://<service>:/path').optional()
    .describe('the uploads folder inside a container, read and written with docker cp (instead of path)'),
  strict: flag.default(false).describe('fail the backup when a file cannot be read, instead of warning'),
  incremental: flag.default(false).describe('write only the files that changed since the previous backup (a delta), with the complete file list in the manifest'),
  full_every: count(1, 1000).default(7).describe('with incremental: a full uploads set at least every this many backups'),
}).strict().superRefine((uploads, ctx) => {
  if ((uploads.path === undefined) === (uploads.exec === undefined)) {
    ctx.addIssue({ code: 'custom', path: ['path'], message: 'expected either uploads.path (a folder here) or uploads.exec (a folder in a container), not both or neither' });
  }
});


export const mongodbConfigSchema = z.object({
  url: nonEmpty.superRefine((url, ctx) => {
    const problem = mongodbUrlProblem(url);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
  }).describe('MongoDB connection string (mongodb://host:27017/db?authSource=admin)'),
  database: nonEmpty.optional().describe('database to back up and restore into; defaults to the one in the URL'),
  exec: z.string().regex(/^(docker|compose):\/\/[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'expected docker://<container> or compose://<service>').optional()
    .describe('reach the server inside this container through docker exec, for a MongoDB that publishes no port'),
  exec_transfer: z.enum(['auto', 'archive', 'wire']).default('auto')
    .describe('with exec: mongodump/mongorestore --archive in the container (archive), the driver through a tunnel (wire), or archive when the container has the tools and a backup loses no snapshot by it (auto)'),
  user: nonEmpty.optional().describe('user, when the URL carries none'),
  password: nonEmpty.optional().describe('password, when the URL carries none'),
  collections: nameList.optional().describe('only these collections; all when absent'),
  export_collections: nameList.default([]).describe('collections also written as <name>_export.json'),
  export_missing: z.enum(['warn', 'skip']).default('warn').describe('an export_collections name the database lacks: a warning in the manifest, or skipped quietly (the environment-only default)'),
  server_selection_timeout_seconds: count(1, 3600).default(10),
  insert_batch_size: count(1, 100_000).default(1000),
  read_preference: z.enum(['primary', 'primaryPreferred', 'secondary', 'secondaryPreferred', 'nearest']).optional()
    .describe('where backups read on a replica set; secondaryPreferred spares the primary'),
  bypass_document_validation: flag.default(false).describe('insert documents the target validator would reject (needs the restore or dbAdmin role)'),
  required_collections: nameList.default([]).describe('collections ferry db check requires and ferry db init creates'),
  indexes: z.record(z.string(), z.array(z.object({ key: z.record(z.string(), z.union([z.number(), z.string()])) }).catchall(z.unknown())))
    .default({})
    .describe('indexes ferry db init creates, per collection: {key: {field: 1}, name?, unique?, ...}'),
}).strict();

const notifyTargetSchema = z.object({
  webhook: z.string().url('expected an http(s) URL').optional().describe('POST a JSON body here'),
  exec: z.preprocess((v) => (typeof v === 'string' ? [v] : v), z.array(nonEmpty).min(1)).optional()
    .describe('command and arguments to run, with the JSON body on stdin'),
}).strict();

const emailEventsSchema = z.object({
  backup_failed: flag.default(true),
  upload_failed: flag.default(true),
  health_critical: flag.default(true).describe('ferry health CRITICAL (a damaged archive, backups that stopped): once per state change, again every 24 h'),
  anomaly: flag.default(true).describe('ferry health reports a table or collection that shrank'),
  retention_removed: flag.default(false).describe('a backup run removed backups by retention'),
  daily_digest: flag.default(false).describe('one success summary per day'),
}).strict();

export const smtpConfigSchema = z.object({
  host: nonEmpty,
  port: count(1, 65535).optional().describe('default 465 with security tls, 587 with starttls, 25 with none'),
  security: z.enum(['none', 'starttls', 'tls']).default('starttls'),
  user: nonEmpty.optional(),
  password_file: nonEmpty.optional().describe('a file holding the SMTP password'),
  password_env: nonEmpty.optional().describe('the name of an environment variable holding the SMTP password'),
  from: nonEmpty,
  to: nameList.pipe(z.array(nonEmpty).min(1, 'expected at least one address')),
  allow_self_signed: flag.default(false).describe('accept a self-signed server certificate'),
  events: emailEventsSchema.default(() => emailEventsSchema.parse({})),
}).strict();

export const notifyConfigSchema = z.object({
  on_failure: notifyTargetSchema.optional(),
  on_success: notifyTargetSchema.optional(),
  smtp: smtpConfigSchema.optional(),
  environment: nonEmpty.optional().describe('a name for this installation in notification subjects, e.g. production'),
  timeout_seconds: count(1, 600).default(10),
}).strict();

export const encryptionConfigSchema = z.object({
  recipients: nameList.default([]).describe('age recipients (age1…): the server can encrypt, only the identities can decrypt'),
  passphrase_file: nonEmpty.optional().describe('a file holding a passphrase (scrypt), instead of recipients'),
  passphrase_env: nonEmpty.optional().describe('the name of an environment variable holding the passphrase'),
}).strict();

export const backupConfigSchema = z.object({
  directory: nonEmpty.default('./backups'),
  retention_days: count(0, 36500).default(7),
  keep_last: count(0, 100_000).default(0).describe('keep the newest N backups'),
  keep_daily: count(0, 100_000).default(0).describe('keep the newest backup of each of the last N days that have one'),
  keep_weekly: count(0, 100_000).default(0).describe('likewise per ISO week'),
  keep_monthly: count(0, 100_000).default(0).describe('likewise per month'),
  keep_yearly: count(0, 100_000).default(0).describe('likewise per year'),
  compression: z.enum(['gzip', 'zstd']).default('gzip').describe('how the archive is compressed: gzip (.tar.gz) or zstd (.tar.zst)'),
  compression_level: count(0, 19).optional().describe('gzip 0–9 (default 1) or zstd 1–19 (default 3)'),
  temp_directory: nonEmpty.optional().describe('where PostgreSQL dumps are staged; defaults to the backup directory'),
  encryption: encryptionConfigSchema.optional(),
  latest_link: flag.default(true).describe('keep backup_latest.tar.gz (and its sidecars) as relative links to the newest archive'),
}).strict();

export const storageConfigSchema = z.object({
  remote: z.string().regex(/^s3:\/\/[A-Za-z0-9][A-Za-z0-9._-]{1,62}(\/[^\s]*)?$/, 'expected s3://bucket or s3://bucket/prefix')
    .optional()
    .describe('S3-compatible location for off-site copies: s3://bucket/prefix (absent: only s3:// URLs given to pull/restore)'),
  endpoint: z.string().url('expected an http(s) URL').optional().describe('S3 endpoint for MinIO, R2, B2, Scaleway, OVH…; AWS when absent'),
  region: nonEmpty.optional().describe('region; default AWS_REGION, else us-east-1'),
  force_path_style: flag.default(false).describe('bucket in the path instead of the host name (MinIO and most self-hosted stores)'),
  part_size_mb: count(5, 5120).default(8).describe('multipart upload part size; memory used is about part size × upload_concurrency'),
  upload_concurrency: count(1, 16).default(4),
  upload_after_backup: flag.default(true).describe('ferry backup uploads each new archive when remote is set'),
}).strict();

export const restoreConfigSchema = z.object({
  strategy: z.enum(['auto', 'swap', 'in-place']).default('auto')
    .describe('PostgreSQL: swap builds <db>__ferry_new beside the target and renames it in; in-place replaces the dumped schemas in one transaction; auto picks swap when the role may'),
  disconnect: flag.default(false).describe('terminate sessions connected to the target database instead of refusing (as --force)'),
  before: z.preprocess((v) => (typeof v === 'string' ? [v] : v), z.array(nonEmpty).min(1)).optional()
    .describe('command and arguments run before the swap (e.g. docker compose stop web)'),
  after: z.preprocess((v) => (typeof v === 'string' ? [v] : v), z.array(nonEmpty).min(1)).optional()
    .describe('command and arguments run after the swap, also when it failed (e.g. docker compose start web)'),
  hook_timeout_seconds: count(1, 3600).default(120),
  keep_pristine: flag.default(false).describe('also keep a pristine copy of what was restored, for ferry reset'),
}).strict();

const transformerRules = z.record(z.string().min(1), z.record(z.string().min(1), z.unknown())).superRefine((tables, ctx) => {
  for (const [object, fields] of Object.entries(tables)) {
    for (const [field, spec] of Object.entries(fields)) {
      const parsed = parseTransformer(spec);
      if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', path: [object, field], message: parsed });
    }
  }
});

export const maskConfigSchema = z.object({
  postgres: transformerRules.default({}).describe('table (schema.table or table) → column → transformer'),
  mongodb: transformerRules.default({}).describe('collection → field path (dotted, through arrays) → transformer'),
}).strict();

const anomalyRuleSchema = z.object({
  shrink: z.enum(['expected'], { error: 'expected shrink: expected (or no shrink key)' }).optional()
    .describe('expected: a drop of this count is never an anomaly (a log table truncated nightly); its disappearance still is'),
  max_drop_percent: z.number().min(0).max(100).optional().describe('this object\'s own relative threshold'),
  max_drop_count: count(0, Number.MAX_SAFE_INTEGER).optional().describe('this object\'s own absolute threshold'),
}).strict().superRefine((rule, ctx) => {
  if (rule.shrink !== undefined && (rule.max_drop_percent !== undefined || rule.max_drop_count !== undefined)) {
    ctx.addIssue({ code: 'custom', message: 'shrink: expected turns the drop thresholds off; give either shrink or max_drop_percent/max_drop_count' });
  }
});

const anomalyRulesByName = (what: string, problemOf: (name: string) => string | undefined) => z.record(z.string(), anomalyRuleSchema).superRefine((rules, ctx) => {
  for (const name of Object.keys(rules)) {
    const problem = problemOf(name);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', path: [name], message: `${what} name ${JSON.stringify(name)}: ${problem}` });
  }
});

export const anomaliesConfigSchema = z.object({
  max_drop_percent: z.number().min(0).max(100).default(50).describe('a count that fell by more than this share of the median of the backups before…'),
  max_drop_count: count(0, Number.MAX_SAFE_INTEGER).default(1000).describe('…and by more than this many rows, documents or files is an anomaly'),
  postgres: anomalyRulesByName('table', postgresTableNameProblem).default({}).describe('table (schema.table or table) → its own rule'),
  mongodb: anomalyRulesByName('collection', mongoCollectionNameProblem).default({}).describe('collection → its own rule'),
  uploads: z.object({ files: anomalyRuleSchema.optional(), directories: anomalyRuleSchema.optional(), symlinks: anomalyRuleSchema.optional() })
    .strict().default({}).describe('files, directories or symlinks → its own rule'),
}).strict();

export const healthConfigSchema = z.object({
  anomalies: anomaliesConfigSchema.default(() => anomaliesConfigSchema.parse({})),
}).strict();

export const serveConfigSchema = z.object({
  listen: nonEmpty.default('127.0.0.1:8086').describe('host:port ferry serve binds (a non-loopback address needs authentication)'),
  allow_actions: flag.default(false).describe('let authenticated users start a verify from the dashboard'),
  password_hash: nonEmpty.optional().describe('scrypt hash from ferry serve --hash-password; without it, a token is printed at start'),
}).strict();

export const configSchema = z.object({
  backup: backupConfigSchema.default(() => backupConfigSchema.parse({})),
  postgres: postgresConfigSchema.optional(),
  mongodb: mongodbConfigSchema.optional(),
  uploads: uploadsConfigSchema.optional(),
  notify: notifyConfigSchema.optional(),
  storage: storageConfigSchema.optional(),
  mask: maskConfigSchema.optional(),
  restore: restoreConfigSchema.default(() => restoreConfigSchema.parse({})),
  health: healthConfigSchema.optional(),
  serve: serveConfigSchema.default(() => serveConfigSchema.parse({})),
}).strict().superRefine((config, ctx) => {
  const level = config.backup.compression_level;
  if (level === undefined) return;
  if (config.backup.compression === 'gzip' && level > 9) ctx.addIssue({ code: 'custom', path: ['backup', 'compression_level'], message: `gzip levels are 0–9 (got ${level}); zstd's go to 19 (backup.compression: zstd)` });
  if (config.backup.compression === 'zstd' && level < 1) ctx.addIssue({ code: 'custom', path: ['backup', 'compression_level'], message: 'zstd levels are 1–19' });
});

export type FerryConfig = z.infer<typeof configSchema>;
export type PostgresConfig = z.infer<typeof postgresConfigSchema>;
export type MongodbConfig = z.infer<typeof mongodbConfigSchema>;
export type UploadsConfig = z.infer<typeof uploadsConfigSchema>;
export type NotifyConfig = z.infer<typeof notifyConfigSchema>;
export type SmtpConfig = z.infer<typeof smtpConfigSchema>;
export type BackupConfig = z.infer<typeof backupConfigSchema>;
export type StorageConfig = z.infer<typeof storageConfigSchema>;
export type MaskConfig = z.infer<typeof maskConfigSchema>;
export type RestoreConfig = z.infer<typeof restoreConfigSchema>;
export type AnomaliesConfig = z.infer<typeof anomaliesConfigSchema>;
export type ServeConfig = z.infer<typeof serveConfigSchema>;
