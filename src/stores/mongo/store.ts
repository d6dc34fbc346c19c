import { createWriteStream } from 'node:fs';
import { createRequire } from 'node:module';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Document } from 'bson';
import type { MongoClient } from 'mongodb';
import type { ArchiveEntryHeader, StoreManifest } from '../../archive/index.js';
import type { MongodbConfig } from '../../config/index.js';
import { FerryError, throwIfAborted } from '../../errors/index.js';
import { formatBytes } from '../../util/format.js';
import { hostsOfUrl } from '../../util/url.js';
import type { DatabaseCheck, DatabaseInit, ObjectCount, PreflightReport, RestoreOptions, RestoreStaging, RestoreTarget, StagedDump, Store, StoreContext } from '../store.js';
import { connectMongo, databaseName, describeMongo, mongoError } from './connection.js';
import { checkMongo, initMongo } from './db.js';
import { listDumpable, stageCollection, type CollectionDump } from './dump.js';
import { unescapeCollectionName } from './names.js';
import { checkStaged, restoreCollection, type CheckedCollection, type StagedCollection } from './restore.js';
import { DocumentMasker, hasPath } from './document-masker.js';
import { parseDocument, readBsonFile } from './bson-file.js';

export const MONGO_PREFIX = 'mongodb/';

interface ServerFacts {
  version: string;
  fingerprint: string;
  facts: Record<string, string>;
}

export class MongoStore implements Store {
  readonly kind = 'mongo' as const;
  readonly archivePrefix = MONGO_PREFIX;

  constructor(private readonly config: MongodbConfig) {}

  describe(): string {
    return describeMongo(this.config, this.config.database ?? safeDatabaseName(this.config));
  }

  async preflight(_ctx: StoreContext): Promise<PreflightReport> {
    return this.withClient(async (client) => {
      const facts = await serverFacts(client, this.config);
      const collections = await this.selectCollections(client);
      return { summary: `${this.describe()}: MongoDB ${facts.version}, ${collections.length} collections`, serverVersion: facts.version };
    });
  }

  async stage(ctx: StoreContext): Promise<StagedDump> {
    const started = Date.now();
    return this.withClient(async (client) => {
      const facts = await serverFacts(client, this.config);
      const db = client.db(databaseName(this.config));
      const collections = await this.selectCollections(client);
      const counts: Record<string, number> = {};
      let bytes = 0;
      ctx.progress.start(`dumping ${this.describe()}`);
      const staged: CollectionDump[] = [];
      for (const info of collections) {
        throwIfAborted(ctx.signal);
        const collection = await stageCollection(db, info, ctx, this.config.export_collections.includes(info.name));
        staged.push(collection);
        if (info.type !== 'view') counts[info.name] = collection.documents;
        bytes += collection.bytes;
        ctx.progress.update(bytes);
      }
      ctx.progress.done(`${Object.keys(counts).length} collections, ${Object.values(counts).reduce((a, b) => a + b, 0)} documents, ${formatBytes(bytes)}`);
      const views = collections.filter((c) => c.type === 'view').map((c) => c.name);
      const missingExports = this.config.export_collections.filter((name) => !(name in counts));
      const manifest: StoreManifest = {
        kind: this.kind,
        source: this.describe(),
        fingerprint: facts.fingerprint,
        serverVersion: facts.version,
        toolVersion: `mongodb driver ${driverVersion()}`,
        counts,
        bytes,
        durationSeconds: (Date.now() - started) / 1000,
        warnings: missingExports.map((name) => `export_collections names ${name}, which was not dumped`),
        facts: { ...facts.facts, database: db.databaseName, ...(views.length > 0 ? { views: views.join(',') } : {}) },
      };
      return {
        write: async (sink) => {
          for (const collection of staged) await collection.write(sink);
          return { ...manifest, durationSeconds: (Date.now() - started) / 1000 };
        },
      };
    });
  }

  targetHosts(): string[] {
    return hostsOfUrl(this.config.url);
  }

  async inspectTarget(manifest: StoreManifest, options: RestoreOptions, _ctx: StoreContext): Promise<RestoreTarget> {
    const database = options.toDatabase ?? databaseName(this.config);
    return this.withClient(async (client) => {
      const facts = await serverFacts(client, { ...this.config, database });
      const db = client.db(database);
      const existing = new Set((await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name));
      const currentCounts: Record<string, number> = {};
      for (const name of Object.keys(manifest.counts)) {
        if (options.collections !== undefined && !options.collections.includes(name)) continue;
        currentCounts[name] = existing.has(name) ? await countOf(client, database, name) : 0;
      }
      return { describe: describeMongo(this.config, database), fingerprint: facts.fingerprint, currentCounts };
    });
  }

  async prepareRestore(manifest: StoreManifest, options: RestoreOptions, ctx: StoreContext): Promise<RestoreStaging> {
    const database = options.toDatabase ?? databaseName(this.config);
    const dir = join(ctx.tempDir, 'mongodb');
    await mkdir(dir, { recursive: true });
    const staged = new Map<string, StagedCollection>();
    let fileNumber = 0;
    let checked: CheckedCollection[] | undefined;
    return {
      accept: async (header: ArchiveEntryHeader, relativePath: string, data: Readable) => {
        const match = /^([^/]+)\/([^/]+?)(\.metadata\.json|\.bson)$/.exec(relativePath);
        if (header.type !== 'file' || match === null) {
          data.resume();
          return;
        }
        const [, , file, suffix] = match as unknown as [string, string, string, string];
        const key = `${match[1]}/${file}`;
        const entry = staged.get(key) ?? { name: unescapeCollectionName(file), bsonPath: undefined, metadataPath: undefined, label: `${MONGO_PREFIX}${key}.bson` };
        const path = join(dir, `${fileNumber++}${suffix}`);
        await pipeline(data, createWriteStream(path, { mode: 0o600 }));
        if (suffix === '.bson') entry.bsonPath = path;
        else entry.metadataPath = path;
        staged.set(key, entry);
      },
      validate: async () => {
        checked = await this.checkAndSelect([...staged.values()], manifest, options, ctx);
      },
      apply: async () => {
        const started = Date.now();
        const selected = checked ?? await this.checkAndSelect([...staged.values()], manifest, options, ctx);
        const maskers = new Map(selected.flatMap((c) => {
          const rules = options.mask?.rules.mongo.get(c.name);
          return rules === undefined || options.mask === undefined ? [] : [[c.name, new DocumentMasker(c.name, rules, options.mask.masker)] as const];
        }));
        return this.withClient(async (client) => {
          const db = client.db(database);
          ctx.progress.start(`restoring ${selected.length} collections into ${describeMongo(this.config, database)}`);
          const ordered = [...selected.filter((c) => c.metadata.type !== 'view'), ...selected.filter((c) => c.metadata.type === 'view')];
          for (const collection of ordered) {
            throwIfAborted(ctx.signal);
            await restoreCollection(db, collection, this.config.insert_batch_size, ctx, maskers.get(collection.name));
          }
          ctx.progress.done(`restored ${selected.length} collections`);
          const counts: ObjectCount[] = [];
          for (const collection of selected.filter((c) => c.metadata.type !== 'view')) {
            counts.push({ object: collection.name, expected: manifest.counts[collection.name] ?? collection.documents, actual: await countOf(client, database, collection.name) });
          }
          const masking = maskers.size === 0 ? {} : { masking: [...maskers.values()].map((m) => m.stats) };
          return { target: describeMongo(this.config, database), counts, durationSeconds: (Date.now() - started) / 1000, ...masking };
        });
      },
      discard: async () => undefined,
    };
  }

  /**
   * Every staged document parses and the counts match the manifest; the collections asked for
   * exist; every masking rule names a collection there and a field some document has.
   */
  private async checkAndSelect(staged: StagedCollection[], manifest: StoreManifest, options: RestoreOptions, ctx: StoreContext): Promise<CheckedCollection[]> {
    const all = await checkStaged(staged, ctx);
    for (const collection of all) {
      if (collection.metadata.collectionName !== '') collection.name = collection.metadata.collectionName;
    }
    const selected = options.collections === undefined ? all : all.filter((c) => options.collections?.includes(c.name));
    const unknown = (options.collections ?? []).filter((name) => !all.some((c) => c.name === name));
    if (unknown.length > 0) {
      throw new FerryError('USAGE', `--collections: ${unknown.join(', ')} not in the archive (it has ${all.map((c) => c.name).join(', ')})`, { hint: 'Name collections the archive holds; ferry inspect lists them.' });
    }
    for (const collection of selected) {
      const expected = manifest.counts[collection.name];
      if (expected !== undefined && expected !== collection.documents) {
        throw new FerryError('ARCHIVE_CORRUPT', `${collection.label} holds ${collection.documents} documents, the manifest says ${expected}`, { hint: 'The archive is damaged; restore from another backup. Nothing was written to the database.' });
      }
    }
    for (const [name, rules] of options.mask?.rules.mongo ?? []) {
      const collection = all.find((c) => c.name === name);
      if (collection === undefined) {
        throw new FerryError('MASK_RULE_UNKNOWN', `mask rule for collection ${name}: the archive has no such collection`, { hint: `Fix mask.mongodb in the config; the archive has ${all.map((c) => c.name).join(', ')}. Nothing was restored.` });
      }
      const missing = await fieldsNeverPresent(collection, rules.map((r) => r.path));
      if (missing.length > 0) {
        throw new FerryError('MASK_RULE_UNKNOWN', `mask rule ${name}.${missing[0]?.join('.')}: no document of ${name} has that field`, { hint: 'Fix the field path in mask.mongodb (dotted, arrays are entered by themselves). Nothing was restored.' });
      }
    }
    return selected;
  }

  async checkDatabase(attemptTimeoutSeconds: number): Promise<DatabaseCheck> {
    const config = { ...this.config, server_selection_timeout_seconds: Math.max(1, Math.min(this.config.server_selection_timeout_seconds, attemptTimeoutSeconds)) };
    const client = await connectMongo(config);
    try {
      return await checkMongo(client, config);
    } catch (error) {
      throw mongoError(config, error);
    } finally {
      await client.close().catch(() => undefined);
    }
  }

  async initDatabase(): Promise<DatabaseInit> {
    return this.withClient((client) => initMongo(client, this.config));
  }

  private async selectCollections(client: MongoClient) {
    const database = databaseName(this.config);
    const all = await listDumpable(client.db(database));
    if (all.length === 0) {
      throw new FerryError('MONGO_DATABASE_MISSING', `database ${database} does not exist or has no collections on ${this.describe()}`, {
        hint: 'Check MONGODB_DB_NAME (or the database at the end of MONGODB_URL).',
      });
    }
    if (this.config.collections === undefined) return all;
    const missing = this.config.collections.filter((name) => !all.some((c) => c.name === name));
    if (missing.length > 0) {
      throw new FerryError('CONFIG_INVALID', `mongodb.collections: ${missing.join(', ')} not found in ${database}`, { hint: `The database has ${all.map((c) => c.name).join(', ')}.` });
    }
    return all.filter((c) => this.config.collections?.includes(c.name));
  }

  private async withClient<T>(work: (client: MongoClient) => Promise<T>): Promise<T> {
    const client = await connectMongo(this.config);
    try {
      return await work(client);
    } catch (error) {
      throw mongoError(this.config, error);
    } finally {
      await client.close().catch(() => undefined);
    }
  }
}

async function countOf(client: MongoClient, database: string, name: string): Promise<number> {
  const result = await client.db(database).command({ count: name });
  return Number(result.n ?? 0);
}

async function serverFacts(client: MongoClient, config: MongodbConfig): Promise<ServerFacts> {
  const admin = client.db('admin');
  const hello: Document = await admin.command({ hello: 1 });
  const build: Document = await admin.command({ buildInfo: 1 });
  const facts: Record<string, string> = {};
  if (hello.localTime instanceof Date) facts.serverTimeAtStart = hello.localTime.toISOString();
  if (hello.operationTime !== undefined) facts.operationTime = String(hello.operationTime);
  if (hello.setName !== undefined) facts.replicaSet = String(hello.setName);
  try {
    const fcv: Document = await admin.command({ getParameter: 1, featureCompatibilityVersion: 1 });
    const version = (fcv.featureCompatibilityVersion as Document | undefined)?.version;
    if (version !== undefined) facts.featureCompatibilityVersion = String(version);
  } catch {
    // Needs a privilege the backup user may lack; the server version is recorded either way.
  }
  const database = databaseName(config);
  const host = (() => {
    try {
      return new URL(config.url).host;
    } catch {
      return '?';
    }
  })();
  const identity = hello.setName !== undefined ? `replica set ${String(hello.setName)}` : `host ${host}`;
  return { version: String(build.version ?? '?'), fingerprint: `mongodb ${identity} database ${database}`, facts };
}

function safeDatabaseName(config: MongodbConfig): string {
  try {
    return databaseName(config);
  } catch {
    return '?';
  }
}

function driverVersion(): string {
  return (createRequire(import.meta.url)('mongodb/package.json') as { version: string }).version;
}

/** The rule paths that no document of the collection holds; reading stops once all were seen. */
async function fieldsNeverPresent(collection: CheckedCollection, paths: string[][]): Promise<string[][]> {
  let missing = paths;
  if (collection.bsonPath === undefined) return missing;
  for await (const doc of readBsonFile(collection.bsonPath, collection.label)) {
    const parsed = parseDocument(doc, collection.label);
    missing = missing.filter((path) => !hasPath(parsed, path));
    if (missing.length === 0) break;
  }
  return missing;
}
