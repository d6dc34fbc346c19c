import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redactor } from '../config/index.js';
import type { FerryConfig, MongodbConfig } from '../config/index.js';
import { configSchema } from '../config/schema.js';
import { connectMongo } from '../stores/mongo/connection.js';
import { backup, type BackupResult } from '../ops/backup.js';
import type { OperationContext } from '../ops/context.js';
import { applyRestore, guardRestore, planRestore, type RestoreResult } from '../ops/restore/index.js';
import { SAMPLE_SQL, sampleMongoCollections, writeSampleUploads } from './sample-data.js';
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
export async function demo(base: DemoContext, mongodb?: MongodbConfig): Promise<DemoResult> {
  base.log.info('starting a throw-away PostgreSQL server');
  const server = await startThrowawayPostgres();
  const redactor = new Redactor([server.password, ...(mongodb?.password === undefined ? [] : [mongodb.password])]);
  // Made once the server runs, so a server that cannot start leaves no empty folder behind.
  let work: string | undefined;
  let mongo: Awaited<ReturnType<typeof seedMongo>> | undefined;
  try {
    work = await mkdtemp(join(tmpdir(), 'ferry-demo-'));
    mongo = mongodb === undefined ? undefined : await seedMongo(mongodb, base);
    if (mongo === undefined) base.log.info('MongoDB: skipped (set MONGODB_URL, and MONGODB_USER/MONGODB_PASSWORD if needed, to include it)');
    await server.createDatabase('legrimoire');
    const { default: pg } = await import('pg');
    const client = new pg.Client({ connectionString: server.url('legrimoire') });
    await client.connect();
    try {
      await client.query(SAMPLE_SQL);
    } finally {
      await client.end();
    }
    await writeSampleUploads(join(work, 'uploads'));
    base.log.info('loaded sample recipes into database legrimoire and sample files into uploads/');

    const backupConfig = demoConfig(work, server.url('legrimoire'), join(work, 'uploads'), mongo?.source);
    const made = await backup({ ...base, config: backupConfig, redactor });

    const restoreConfig = demoConfig(work, server.url('legrimoire_dev'), join(work, 'uploads_dev'), mongo?.target);
    const restoreCtx: OperationContext = { ...base, config: restoreConfig, redactor };
    const plan = await planRestore(restoreCtx, made.archive, {}, { signal: base.signal, log: base.log, progress: base.progress, redactor, tempDir: work });
    guardRestore(plan);
    const restored = await applyRestore(restoreCtx, plan);
    return { backup: made, restore: restored };
  } finally {
    await mongo?.cleanup();
    await server.stop();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
    base.log.info('stopped the throw-away server and removed its files');
  }
}

function demoConfig(work: string, url: string, uploads: string, mongodb: MongodbConfig | undefined): FerryConfig {
  return configSchema.parse({ backup: { directory: join(work, 'backups') }, postgres: { url }, mongodb, uploads: { path: uploads } });
}

/**
 * With a MongoDB configured, the demo works in two databases of its own (ferry_demo_<random> and
 * …_dev) on that server, and drops both at the end; it never touches the configured database.
 */
async function seedMongo(config: MongodbConfig, base: DemoContext): Promise<{ source: MongodbConfig; target: MongodbConfig; cleanup: () => Promise<void> }> {
  const name = `ferry_demo_${randomBytes(3).toString('hex')}`;
  const source: MongodbConfig = { ...config, database: name, collections: undefined, export_collections: ['recipes', 'ingredients'] };
  const target: MongodbConfig = { ...source, database: `${name}_dev` };
  const client = await connectMongo(source);
  try {
    for (const [collection, docs] of Object.entries(sampleMongoCollections())) await client.db(name).collection(collection).insertMany(docs);
    await client.db(name).collection('recipes').createIndex({ title: 1 });
  } finally {
    await client.close();
  }
  base.log.info(`loaded sample recipes into MongoDB database ${name}`);
  return {
    source,
    target,
    cleanup: async () => {
      const cleaner = await connectMongo(source);
      try {
        for (const db of [name, `${name}_dev`]) await cleaner.db(db).dropDatabase().catch(() => undefined);
      } finally {
        await cleaner.close();
      }
    },
  };
}
