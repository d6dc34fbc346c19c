import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Redactor } from '../config/index.js';
import type { FerryConfig } from '../config/index.js';
import { backup, type BackupResult } from '../ops/backup.js';
import type { OperationContext } from '../ops/context.js';
import { applyRestore, guardRestore, planRestore, type RestoreResult } from '../ops/restore/index.js';
import { SAMPLE_SQL, writeSampleUploads } from './sample-data.js';
import { startThrowawayPostgres } from './throwaway-postgres.js';

export interface DemoResult {
  backup: BackupResult;
  restore: RestoreResult;
}

type DemoContext = Omit<OperationContext, 'config' | 'redactor'>;

/**
 * The quick start: a throw-away PostgreSQL with sample recipes and a sample uploads folder, backed
 * up, restored into a second database and folder, and checked. Everything is removed afterwards.
 */
export async function demo(base: DemoContext): Promise<DemoResult> {
  const work = await mkdtemp(join(tmpdir(), 'ferry-demo-'));
  base.log.info('starting a throw-away PostgreSQL server');
  const server = await startThrowawayPostgres();
  const redactor = new Redactor([server.password]);
  try {
    await server.createDatabase('legrimoire');
    const client = new pg.Client({ connectionString: server.url('legrimoire') });
    await client.connect();
    try {
      await client.query(SAMPLE_SQL);
    } finally {
      await client.end();
    }
    await writeSampleUploads(join(work, 'uploads'));
    base.log.info('loaded sample recipes into database legrimoire and sample files into uploads/');

    const backupConfig = demoConfig(work, server.url('legrimoire'), join(work, 'uploads'));
    const made = await backup({ ...base, config: backupConfig, redactor });

    const restoreConfig = demoConfig(work, server.url('legrimoire_dev'), join(work, 'uploads_dev'));
    const restoreCtx: OperationContext = { ...base, config: restoreConfig, redactor };
    const plan = await planRestore(restoreCtx, made.archive, {}, { signal: base.signal, log: base.log, progress: base.progress, redactor, tempDir: work });
    guardRestore(plan);
    const restored = await applyRestore(restoreCtx, plan);
    return { backup: made, restore: restored };
  } finally {
    await server.stop();
    await rm(work, { recursive: true, force: true });
    base.log.info('stopped the throw-away server and removed its files');
  }
}

function demoConfig(work: string, url: string, uploads: string): FerryConfig {
  return {
    backup: { directory: join(work, 'backups'), retention_days: 7, compression_level: 6, temp_directory: undefined },
    postgres: { url, bin_dir: undefined, connect_timeout_seconds: 10 },
    uploads: { path: uploads, strict: false },
  };
}
