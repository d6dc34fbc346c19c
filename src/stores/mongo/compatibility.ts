import type { Document } from 'bson';
import { FerryError } from '../../errors/index.js';
import type { CollectionMetadata } from './metadata.js';

/**
 * What a server version must accept to restore a collection as it was dumped, from MongoDB's
 * documentation (the versions the driver supports start at 4.4, so only later changes matter):
 * - time-series collections, and their expireAfterSeconds: new in 5.0
 * - timeseries.bucketMaxSpanSeconds / bucketRoundingSeconds: new in 6.3 (first in the 6.2 rapid release)
 * - clusteredIndex (clustered collections): new in 5.3
 * - changeStreamPreAndPostImages: new in 6.0
 * - recordPreImages: removed in 6.2 (SERVER-60919), superseded by changeStreamPreAndPostImages
 * - hidden indexes: new in 4.4; prepareUnique: new in 6.0
 * - compound wildcard indexes: new in 7.0; geoHaystack indexes: removed in 5.0
 */
const RULES = {
  timeseries: { since: '5.0' },
  timeseriesExpiry: { since: '5.0' },
  bucketing: { since: '6.3' },
  clusteredIndex: { since: '5.3' },
  changeStreamPreAndPostImages: { since: '6.0' },
  recordPreImages: { removedIn: '6.2' },
  hiddenIndex: { since: '4.4' },
  prepareUnique: { since: '6.0' },
  compoundWildcard: { since: '7.0' },
  geoHaystack: { removedIn: '5.0' },
} as const satisfies Record<string, { since?: string; removedIn?: string }>;

export type RuleId = keyof typeof RULES;

/** One thing a dumped collection uses that not every server version accepts. */
export interface Feature {
  collection: string;
  rule: RuleId;
  /** The option as the user knows it, e.g. `clusteredIndex` or `index slug_1: hidden`. */
  option: string;
}

/** Every version-dependent option of a dumped collection and its indexes. */
export function featuresOf(metadata: CollectionMetadata, collection: string): Feature[] {
  const options = metadata.options ?? {};
  const found: Feature[] = [];
  const add = (rule: RuleId, option: string) => found.push({ collection, rule, option });
  const timeseries = options.timeseries as Document | undefined;
  if (timeseries !== undefined || metadata.type === 'timeseries') {
    add('timeseries', 'timeseries');
    if (options.expireAfterSeconds !== undefined) add('timeseriesExpiry', 'expireAfterSeconds');
  }
  for (const field of ['bucketMaxSpanSeconds', 'bucketRoundingSeconds']) {
    if (timeseries?.[field] !== undefined) add('bucketing', `timeseries.${field}`);
  }
  if (options.clusteredIndex !== undefined) add('clusteredIndex', 'clusteredIndex');
  if (options.changeStreamPreAndPostImages !== undefined) add('changeStreamPreAndPostImages', 'changeStreamPreAndPostImages');
  if (options.recordPreImages !== undefined) add('recordPreImages', 'recordPreImages');
  for (const index of metadata.indexes) {
    const name = String(index.name ?? '?');
    const key = (index.key ?? {}) as Document;
    if (index.hidden === true) add('hiddenIndex', `index ${name}: hidden`);
    if (index.prepareUnique !== undefined) add('prepareUnique', `index ${name}: prepareUnique`);
    const fields = Object.keys(key);
    if (fields.length > 1 && fields.some((field) => field === '$**' || field.endsWith('.$**'))) add('compoundWildcard', `index ${name}: compound wildcard key`);
    if (Object.values(key).includes('geoHaystack')) add('geoHaystack', `index ${name}: geoHaystack`);
  }
  return found;
}

/** [major, minor] of a server version string; undefined when the server did not say. */
function majorMinor(version: string): [number, number] | undefined {
  const match = /^(\d+)\.(\d+)/.exec(version);
  return match === null ? undefined : [Number(match[1]), Number(match[2])];
}

function atLeast(version: [number, number], wanted: string): boolean {
  const [major, minor] = majorMinor(wanted) as [number, number];
  return version[0] > major || (version[0] === major && version[1] >= minor);
}

/** Why `version` cannot take each feature, one line per feature it cannot take. */
export function incompatibilities(features: Feature[], version: string): string[] {
  const server = majorMinor(version);
  if (server === undefined) return [];
  const lines: string[] = [];
  for (const feature of features) {
    const rule: { since?: string; removedIn?: string } = RULES[feature.rule];
    if (rule.since !== undefined && !atLeast(server, rule.since)) lines.push(`collection ${feature.collection}: ${feature.option} needs MongoDB ${rule.since} or later`);
    if (rule.removedIn !== undefined && atLeast(server, rule.removedIn)) lines.push(`collection ${feature.collection}: ${feature.option} was removed in MongoDB ${rule.removedIn}`);
  }
  return lines;
}

/** Refuses, before anything is touched, a restore the target's version cannot take as dumped. */
export function requireCompatible(features: Feature[], version: string, target: string): void {
  const lines = incompatibilities(features, version);
  if (lines.length === 0) return;
  const collections = [...new Set(features.filter((f) => incompatibilities([f], version).length > 0).map((f) => f.collection))];
  throw new FerryError('MONGO_VERSION_UNSUPPORTED', `${target} runs MongoDB ${version}, which cannot restore the archive as dumped: ${lines.join('; ')}`, {
    hint: `Nothing was touched. Restore into a MongoDB version that accepts these options, or leave ${collections.join(', ')} out with --collections.`,
  });
}

/** The features as the manifest records them (facts.features), so a plan can refuse before the archive is read. */
export function renderFeatures(features: Feature[]): string {
  return JSON.stringify(features.map((f) => [f.collection, f.rule, f.option]));
}

/** The features a manifest records; rules this Ferry does not know are left out. */
export function parseFeatures(text: string | undefined): Feature[] {
  if (text === undefined) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return [];
  }
  if (!Array.isArray(parsed)) return [];
  return parsed.flatMap((entry) => {
    if (!Array.isArray(entry) || entry.length !== 3 || !entry.every((part) => typeof part === 'string')) return [];
    const [collection, rule, option] = entry as [string, string, string];
    return rule in RULES ? [{ collection, rule: rule as RuleId, option }] : [];
  });
}
