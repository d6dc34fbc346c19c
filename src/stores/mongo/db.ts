import type { MongoClient } from 'mongodb';
import { BSON, type Document } from 'bson';
import type { MongodbConfig } from '../../config/index.js';
import type { DatabaseCheck, DatabaseInit } from '../store.js';
import { databaseName, describeMongo } from './connection.js';
import { isKeptName } from './kept.js';

export async function checkMongo(client: MongoClient, config: MongodbConfig): Promise<DatabaseCheck> {
  const db = client.db(databaseName(config));
  const build: Document = await client.db('admin').command({ buildInfo: 1 });
  const names = (await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).filter((n) => !n.startsWith('system.') && !isKeptName(n)).sort();
  const objects: DatabaseCheck['objects'] = [];
  for (const name of names) {
    const result: Document = await db.command({ count: name });
    objects.push({ name, count: Number(result.n ?? 0), estimated: false, required: config.required_collections.includes(name) });
  }
  return {
    target: describeMongo(config),
    serverVersion: `MongoDB ${String(build.version ?? '?')}`,
    objects,
    missing: config.required_collections.filter((name) => !names.includes(name)),
  };
}

/** The name MongoDB gives an index without one: field_direction pairs joined by underscores. */
function defaultIndexName(key: Record<string, unknown>): string {
  return Object.entries(key).map(([field, direction]) => `${field}_${String(direction)}`).join('_');
}

/** Compares definitions by value, so 1 and 1.0 or key order in options do not count as a change. */
function sameDefinition(existing: Document, declared: Document): boolean {
  const normal = (index: Document) => {
    const { v: _v, ns: _ns, key, ...options } = index;
    const sortedOptions = Object.fromEntries(Object.entries(options).sort(([a], [b]) => a.localeCompare(b)));
    return BSON.EJSON.stringify({ key, options: sortedOptions }, { relaxed: true });
  };
  return normal(existing) === normal(declared);
}

/**
 * Creates the required collections and declared indexes that are missing. Running it twice changes
 * nothing; an index that exists with another definition is reported, never dropped.
 */
export async function initMongo(client: MongoClient, config: MongodbConfig): Promise<DatabaseInit> {
  const db = client.db(databaseName(config));
  const report: DatabaseInit = { created: [], unchanged: [], conflicts: [] };
  const existing = new Set((await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name));
  for (const name of new Set([...config.required_collections, ...Object.keys(config.indexes)])) {
    if (existing.has(name)) {
      report.unchanged.push(`collection ${name}`);
      continue;
    }
    await db.createCollection(name);
    report.created.push(`collection ${name}`);
  }
  for (const [collection, declared] of Object.entries(config.indexes)) {
    const current = await db.collection(collection).listIndexes().toArray();
    for (const spec of declared) {
      const index: Document = { ...spec, name: typeof spec.name === 'string' ? spec.name : defaultIndexName(spec.key) };
      const sameName = current.find((i) => i.name === index.name);
      const sameKey = current.find((i) => BSON.EJSON.stringify(i.key as Document, { relaxed: true }) === BSON.EJSON.stringify(index.key as Document, { relaxed: true }));
      const label = `index ${collection}.${String(index.name)}`;
      if (sameName !== undefined) {
        if (sameDefinition(sameName, index)) report.unchanged.push(label);
        else report.conflicts.push(`${label} exists as ${BSON.EJSON.stringify(sameName, { relaxed: true })}, the configuration declares ${BSON.EJSON.stringify(index, { relaxed: true })}`);
      } else if (sameKey !== undefined) {
        report.conflicts.push(`${label}: the same key is already indexed as ${String(sameKey.name)}`);
      } else {
        await db.command({ createIndexes: collection, indexes: [index] });
        report.created.push(label);
      }
    }
  }
  return report;
}
