import { createWriteStream } from 'node:fs';
import { createRequire } from 'node:module';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Db, MongoClient } from 'mongodb';
import type { ArchiveEntryHeader, ManifestEntry, StoreManifest } from '../../archive/index.js';
import type { MongodbConfig } from '../../config/index.js';
import { FerryError } from '../../errors/index.js';
import { hostsOfUrl } from '../../util/url.js';
import type { DatabaseCheck, DatabaseInit, KeptCopy, MaskSettings, PreflightReport, RestoreOptions, RestoreStaging, RestoreTarget, StagedDump, Store, StoreContext } from '../store.js';
import { connectMongo, databaseName, describeMongo, mongoError, safeDatabaseName, type MongoPurpose } from './connection.js';
import { checkMongo, initMongo } from './db.js';
import { dumpCollections, listAll, listDumpable, type DumpedCollections } from './dump.js';
import { dumpThroughContainer } from './exec-dump.js';
import { archiveTransfer } from './transfer.js';
import { archiveLoader } from './exec-restore.js';
import { unescapeCollectionName } from './names.js';
import { checkStaged, type CheckedCollection, type StagedCollection } from './restore.js';
import { applyCollections, countOf } from './apply.js';
import { dataFingerprint, serverFacts, snapshotSupport, targetFingerprint } from './identity.js';
import { dropKeptCopies, listKeptCopies, resetToPristine, undoPrevious } from './kept-ops.js';
import { SWAP_JOURNAL } from './kept.js';
import { requirePrivileges } from './privileges.js';
import { DocumentMasker } from './document-masker.js';
import type { FieldRule } from '../../mask/rules.js';
import { parseDocument, readBsonFile } from './bson-file.js';
import { featuresOf, parseFeatures, renderFeatures, requireCompatible } from './compatibility.js';
import { plural } from '../../util/format.js';

export const MONGO_PREFIX = 'mongodb/';

const SERVER_DATABASES = new Set(['admin', 'config', 'local']);

/** The server's own collections in an archive (the old scripts dumped every database): "admin.system.users", … */
function serverCollections(entries: readonly ManifestEntry[]): string[] {
  return entries.flatMap((entry) => {
    const match = /^mongodb\/([^/]+)\/([^/]+)\.bson$/.exec(entry.path);
    if (match === null) return [];
    const [, folder, file] = match as unknown as [string, string, string];
    return SERVER_DATABASES.has(folder) || file.startsWith('system.') ? [`${folder}.${unescapeCollectionName(file)}`] : [];
  });
}

export class MongoStore implements Store {
  readonly kind = 'mongo' as const;
  readonly archivePrefix = MONGO_PREFIX;

  constructor(private readonly config: MongodbConfig) {}

  describe(options: Pick<RestoreOptions, 'toDatabase'> = {}): string {
    return describeMongo(this.config, options.toDatabase ?? this.config.database ?? safeDatabaseName(this.config));
  }

  async preflight(_ctx: StoreContext): Promise<PreflightReport> {
    return this.withClient('read', async (client) => {
      await requirePrivileges(client, databaseName(this.config), 'backup', this.config);
      const facts = await serverFacts(client);
      const collections = await this.selectCollections(client);
      return { summary: `${this.describe()}: MongoDB ${facts.version}, ${plural(collections.length, 'collection')}`, serverVersion: facts.version };
    });
  }

  async stage(ctx: StoreContext): Promise<StagedDump> {
    const started = Date.now();
    return this.withClient('read', async (client) => {
      const facts = await serverFacts(client);
      const db = client.db(databaseName(this.config));
      const collections = await this.selectCollections(client);
      const snapshot = snapshotSupport(facts);
      const dumpSettings = { label: this.describe(), exportCollections: this.config.export_collections };
      const container = await archiveTransfer(this.config, 'mongodump', ctx, this.describe(), snapshot.supported);
      let dumped: DumpedCollections & { toolVersion?: string };
      if (container !== undefined) {
        dumped = await dumpThroughContainer(container, this.config, db, collections, await listAll(db), ctx, dumpSettings);
      } else {
        dumped = await dumpCollections(client, db, collections, ctx, dumpSettings, snapshot.supported);
        if (dumped.fallback !== undefined) {
          ctx.log.warn(`${this.describe()}: ${dumped.fallback}; dumping again without a snapshot`);
          dumped = await dumpCollections(client, db, collections, ctx, dumpSettings, false);
        }
      }
      const { counts, bytes, staged } = dumped;
      const consistency: Record<string, string> = dumped.atClusterTime !== undefined
        ? { consistency: `snapshot: every collection read at cluster time ${dumped.atClusterTime}`, atClusterTime: dumped.atClusterTime }
        : { consistency: `none: collections read one after another${container === undefined ? '' : ' by mongodump'} while the application may write` };
      const whyNot = dumped.fallback ?? (snapshot.supported ? 'mongodump of one database reads no snapshot' : snapshot.reason);
      const notSnapshot = dumped.atClusterTime === undefined ? [`not a snapshot across collections: ${whyNot}`] : [];
      const views = collections.filter((c) => c.type === 'view').map((c) => c.name);
      const timeseries = collections.filter((c) => c.type === 'timeseries' || c.options.timeseries !== undefined).map((c) => c.name);
      const uuids = collections.flatMap((c) => (c.uuid === undefined ? [] : [c.uuid]));
      const features = staged.flatMap((c) => c.features);
      const missingExports = this.config.export_missing === 'skip' ? [] : this.config.export_collections.filter((name) => !(name in counts));
      const manifest: StoreManifest = {
        kind: this.kind,
        source: this.describe(),
        fingerprint: dataFingerprint(uuids, facts.replicaSet),
        serverVersion: facts.version,
        toolVersion: dumped.toolVersion ?? `mongodb driver ${driverVersion()}`,
        counts,
        bytes,
        durationSeconds: (Date.now() - started) / 1000,
        warnings: [...notSnapshot, ...missingExports.map((name) => `export_collections names ${name}, which was not dumped`)],
        facts: { ...facts.facts, ...consistency, database: db.databaseName, ...(views.length > 0 ? { views: views.join(',') } : {}), ...(timeseries.length > 0 ? { timeseries: timeseries.join(',') } : {}), ...(features.length > 0 ? { features: renderFeatures(features) } : {}) },
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
    return this.withClient('write', async (client) => {
      // Refused here, before the archive is even read; checked again when applying.
      await requirePrivileges(client, database, 'restore', this.config);
      const facts = await serverFacts(client);
      const selected = Object.keys(manifest.counts).filter((name) => options.collections === undefined || options.collections.includes(name));
      // Archives since facts.features say what their collections need; older ones are checked once read.
      requireCompatible(parseFeatures(manifest.facts?.features).filter((f) => selected.includes(f.collection)), facts.version, describeMongo(this.config, database));
      const db = client.db(database);
      const all = await listAll(db);
      const existing = new Map(all.map((c) => [c.name, c]));
      const currentCounts: Record<string, number> = {};
      for (const name of selected) currentCounts[name] = existing.has(name) ? await countOf(db, name) : 0;
      const archiveTimeseries = (manifest.facts?.timeseries ?? '').split(',').filter((n) => n !== '');
      const inPlace = selected.filter((name) => archiveTimeseries.includes(name) || existing.get(name)?.type === 'timeseries');
      const notes = [`collections are loaded beside the target (<coll>__ferry_new) and swapped in only when all are loaded; the replaced ones are kept as <coll>__ferry_prev for ferry restore --undo`];
      if (inPlace.length > 0) notes.push(`${inPlace.join(', ')}: time-series, replaced in place, no undo`);
      const prevs = all.filter((c) => c.name.endsWith('__ferry_prev')).length;
      if (all.some((c) => c.name === SWAP_JOURNAL)) notes.push('a restore killed while swapping left its journal: that swap is finished first, and what it replaced stays kept for ferry restore --undo');
      else if (prevs > 0) notes.push(`the ${prevs} previous copies kept by the last restore or reset are dropped`);
      if (all.some((c) => c.name.endsWith('__ferry_new'))) notes.push('collections left by an interrupted restore (<coll>__ferry_new) are removed');
      if (options.keepPristine === true) notes.push('a pristine copy of each restored collection is kept as <coll>__ferry_pristine for ferry reset');
      const serverOwned = serverCollections(options.archiveEntries ?? []);
      if (serverOwned.length > 0) notes.push(`not restored: ${serverOwned.join(', ')} (the databases admin, config and local and system.* collections belong to the server, not the application)`);
      const uuids = all.flatMap((c) => (c.uuid === undefined ? [] : [c.uuid]));
      return { describe: describeMongo(this.config, database), fingerprint: targetFingerprint(manifest.fingerprint, uuids, facts, this.config, database), currentCounts, notes };
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
        const [, folder, file, suffix] = match as unknown as [string, string, string, string];
        // The old scripts ran mongodump without --db: admin (credential hashes), config and local are never restored, nor system.*.
        if (SERVER_DATABASES.has(folder) || file.startsWith('system.')) {
          data.resume();
          return;
        }
        const key = `${folder}/${file}`;
        const entry = staged.get(key) ?? { name: unescapeCollectionName(file), bsonPath: undefined, metadataPath: undefined, label: `${MONGO_PREFIX}${key}.bson` };
        const path = join(dir, `${fileNumber++}${suffix}`);
        await pipeline(data, createWriteStream(path, { mode: 0o600 }));
        if (suffix === '.bson') entry.bsonPath = path;
        else entry.metadataPath = path;
        staged.set(key, entry);
      },
      validate: async () => {
        checked = await this.checkAndSelect(this.appDatabase(staged), manifest, options, ctx);
        const features = checked.flatMap((c) => featuresOf(c.metadata, c.name));
        if (features.length > 0) {
          const facts = await this.withClient('write', (client) => serverFacts(client));
          requireCompatible(features, facts.version, describeMongo(this.config, database));
        }
      },
      apply: async () => {
        const started = Date.now();
        const selected = checked ?? await this.checkAndSelect(this.appDatabase(staged), manifest, options, ctx);
        const maskers = new Map(selected.flatMap((c) => {
          const rules = options.mask?.rules.mongo.get(c.name);
          return rules === undefined || options.mask === undefined ? [] : [[c.name, new DocumentMasker(c.name, rules, options.mask.masker)] as const];
        }));
        return this.withClient('write', async (client) => {
          await requirePrivileges(client, database, 'restore', this.config);
          const facts = await serverFacts(client);
          const db = client.db(database);
          const container = await archiveTransfer(this.config, 'mongorestore', ctx, describeMongo(this.config, database));
          ctx.progress.start(`restoring ${plural(selected.length, 'collection')} into ${describeMongo(this.config, database)}`);
          const outcome = await applyCollections(db, selected, {
            batchSize: this.config.insert_batch_size,
            serverVersion: facts.version,
            bypassValidation: this.config.bypass_document_validation,
            ctx,
            expected: (c) => manifest.counts[c.name] ?? c.documents,
            maskerFor: (c) => maskers.get(c.name),
            keepPristine: options.keepPristine === true,
            ...(container === undefined ? {} : { loader: archiveLoader(container, this.config, facts.version) }),
          });
          ctx.progress.done(`restored ${plural(selected.length, 'collection')}`);
          const masking = maskers.size === 0 ? {} : { masking: [...maskers.values()].map((m) => m.stats) };
          return { target: describeMongo(this.config, database), counts: outcome.counts, durationSeconds: (Date.now() - started) / 1000, notes: outcome.notes, ...masking };
        });
      },
      discard: async () => undefined,
    };
  }

  async keptCopies(options: RestoreOptions, _ctx: StoreContext): Promise<KeptCopy[]> {
    return this.withTarget(options, false, (db, where) => listKeptCopies(db, where));
  }

  async undo(options: RestoreOptions, _ctx: StoreContext): Promise<string> {
    return this.withTarget(options, true, (db, where) => undoPrevious(db, where));
  }

  async reset(options: RestoreOptions, _ctx: StoreContext): Promise<string> {
    const settings = { batchSize: this.config.insert_batch_size, bypassValidation: this.config.bypass_document_validation };
    return this.withTarget(options, true, (db, where) => resetToPristine(db, where, settings));
  }

  async dropKept(roles: Array<KeptCopy['role']>, options: RestoreOptions, _ctx: StoreContext): Promise<string[]> {
    return this.withTarget(options, true, (db) => dropKeptCopies(db, roles));
  }

  /** Work on the restore target's database; `writes` checks the restore privileges first. */
  private async withTarget<T>(options: RestoreOptions, writes: boolean, work: (db: Db, where: string) => Promise<T>): Promise<T> {
    const database = options.toDatabase ?? databaseName(this.config);
    return this.withClient('write', async (client) => {
      if (writes) await requirePrivileges(client, database, 'restore', this.config);
      return work(client.db(database), describeMongo(this.config, database));
    });
  }

  /**
   * Every staged document parses and the counts match the manifest; the collections asked for
   * exist; every masking rule names a collection there and a field some document has.
   */
  /**
   * The database folder a restore takes: the only one, or among several (an archive of the old
   * scripts, which dumped every database) the one named by mongodb.database / MONGODB_DB_NAME.
   */
  private appDatabase(staged: Map<string, StagedCollection>): StagedCollection[] {
    const folders = [...new Set([...staged.keys()].map((key) => key.slice(0, key.indexOf('/'))))];
    if (folders.length <= 1) return [...staged.values()];
    const wanted = databaseName(this.config);
    if (!folders.includes(wanted)) {
      throw new FerryError('STORE_NOT_IN_ARCHIVE', `the archive holds the MongoDB databases ${folders.join(', ')}, none named ${wanted}`, {
        hint: 'Set mongodb.database (MONGODB_DB_NAME) to the one to restore; admin, config and local are never restored.',
      });
    }
    return [...staged.entries()].filter(([key]) => key.startsWith(`${wanted}/`)).map(([, collection]) => collection);
  }

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
      const [missing] = await checkMaskRules(collection, new DocumentMasker(name, rules, (options.mask as MaskSettings).masker));
      if (missing !== undefined) {
        throw new FerryError('MASK_RULE_UNKNOWN', `mask rule ${name}.${missing.path.join('.')}: no document of ${name} has that field`, { hint: 'Fix the field path in mask.mongodb (dotted, arrays are entered by themselves). Nothing was restored.' });
      }
    }
    return selected;
  }

  async checkDatabase(attemptTimeoutSeconds: number): Promise<DatabaseCheck> {
    const config = { ...this.config, server_selection_timeout_seconds: Math.max(1, Math.min(this.config.server_selection_timeout_seconds, attemptTimeoutSeconds)) };
    const client = await connectMongo(config, 'read');
    try {
      return await checkMongo(client, config);
    } catch (error) {
      throw mongoError(config, error);
    } finally {
      await client.close().catch(() => undefined);
    }
  }

  async initDatabase(): Promise<DatabaseInit> {
    return this.withClient('write', (client) => initMongo(client, this.config));
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

  private async withClient<T>(purpose: MongoPurpose, work: (client: MongoClient) => Promise<T>): Promise<T> {
    const client = await connectMongo(this.config, purpose);
    try {
      return await work(client);
    } catch (error) {
      throw mongoError(this.config, error);
    } finally {
      await client.close().catch(() => undefined);
    }
  }
}

function driverVersion(): string {
  return (createRequire(import.meta.url)('mongodb/package.json') as { version: string }).version;
}

/**
 * Every document checked against the rules before anything is restored: values no rule can mask are
 * refused here. Returns the rules no document matched.
 */
async function checkMaskRules(collection: CheckedCollection, masker: DocumentMasker): Promise<FieldRule[]> {
  if (collection.bsonPath !== undefined) {
    for await (const doc of readBsonFile(collection.bsonPath, collection.label)) masker.check(parseDocument(doc, collection.label));
  }
  return [...masker.unmatched];
}
