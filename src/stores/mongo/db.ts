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

/** Options the server adds or ignores (background since 4.2): not part of what an index is. */
const IGNORED_OPTIONS = new Set(['v', 'ns', 'background', 'textIndexVersion']);
/** The server's defaults for a text index, which it writes into the definition. */
const TEXT_DEFAULTS: Document = { default_language: 'english', language_override: 'language' };

/**
 * A definition as the server lists it: a declared text index ({a: 'text', b: 'text'}) is stored as
 * {_fts: 'text', _ftsx: 1} with the fields as weights, and gets the server's text defaults.
 */
function asListed(index: Document): Document {
  const key = index.key as Document;
  const textFields = Object.keys(key).filter((field) => key[field] === 'text');
  if (textFields.length === 0 || '_fts' in key) return index;
  const weights: Document = { ...Object.fromEntries(textFields.map((field) => [field, 1])), ...(index.weights as Document | undefined) };
  const listedKey: Document = {};
  let textPlaced = false;
  for (const [field, direction] of Object.entries(key)) {
    if (direction !== 'text') listedKey[field] = direction;
    else if (!textPlaced) {
      listedKey._fts = 'text';
      listedKey._ftsx = 1;
      textPlaced = true;
    }
  }
  return { ...TEXT_DEFAULTS, ...index, key: listedKey, weights };
}

function normalForm(index: Document, withName: boolean): string {
  const { name, key, ...options } = asListed(index);
  const kept = Object.entries(options).filter(([option]) => !IGNORED_OPTIONS.has(option)).sort(([a], [b]) => a.localeCompare(b));
  return BSON.EJSON.stringify({ key, options: Object.fromEntries(kept), ...(withName ? { name } : {}) }, { relaxed: true });
}

/** Compares definitions by value, so 1 and 1.0 or key order in options do not count as a change. */
function sameDefinition(existing: Document, declared: Document): boolean {
  return normalForm(existing, true) === normalForm(declared, true);
}

const keyOf = (index: Document) => BSON.EJSON.stringify(asListed(index).key as Document, { relaxed: true });

/**
 * Creates the required collections and declared indexes that are missing. Running it twice changes
 * nothing; an index that exists with another definition is reported, never dropped.
 */
export async function initMongo(client: MongoClient, config: MongodbConfig): Promise<DatabaseInit> {
  const db = client.db(databaseName(config));
  const report: DatabaseInit = { created: [], unchanged: [], conflicts: [], drift: [] };
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
      const sameKey = current.find((i) => keyOf(i) === keyOf(index));
      const label = `index ${collection}.${String(index.name)}`;
      if (sameName !== undefined) {
        if (sameDefinition(sameName, index)) report.unchanged.push(label);
        else report.conflicts.push(`${label} exists as ${BSON.EJSON.stringify(sameName, { relaxed: true })}, the configuration declares ${BSON.EJSON.stringify(index, { relaxed: true })}`);
      } else if (sameKey !== undefined && normalForm(sameKey, false) === normalForm(index, false)) {
        // The app's init-db.sh and its import scripts name the same index differently (off_id_1 and
        // off_id_unique): the index the app needs exists, only its name differs. MongoDB refuses a
        // second index on the same key, so the name can only be aligned by hand.
        report.drift?.push(`${label}: the same index exists as ${String(sameKey.name)}; left as it is`);
      } else if (sameKey !== undefined) {
        report.conflicts.push(`${label}: the same key is already indexed as ${String(sameKey.name)} with other options (${BSON.EJSON.stringify(sameKey, { relaxed: true })})`);
      } else {
        await db.command({ createIndexes: collection, indexes: [index] });
        report.created.push(label);
      }
    }
  }
  return report;
}
