import { createHash } from 'node:crypto';
import type { MaskConfig } from '../config/index.js';
import { FerryError } from '../errors/index.js';
import { parseTransformer, type Transformer } from './transformers.js';

/** A MongoDB field path, split on dots; arrays on the way are entered element by element. */
export interface FieldRule {
  path: string[];
  transformer: Transformer;
}

export interface MaskRules {
  /** "schema.table" (unquoted) → column → transformer. */
  postgres: Map<string, Map<string, Transformer>>;
  /** collection → field rules. */
  mongo: Map<string, FieldRule[]>;
  /** sha256 of the rules as configured: recorded with a masked restore, never the key. */
  digest: string;
}

/** `users` means `public.users`; names are compared without quotes, case-sensitively. */
export function tableKey(name: string): string {
  const parts = splitQualified(name).map((p) => (p.startsWith('"') ? p.slice(1, -1).replace(/""/g, '"') : p));
  return parts.length === 1 ? `public.${parts[0]}` : parts.join('.');
}

function splitQualified(name: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (const c of name) {
    if (c === '"') quoted = !quoted;
    if (c === '.' && !quoted) {
      parts.push(current);
      current = '';
    } else current += c;
  }
  parts.push(current);
  return parts;
}

export function maskRulesFrom(config: MaskConfig | undefined): MaskRules | undefined {
  if (config === undefined) return undefined;
  const postgres = new Map<string, Map<string, Transformer>>();
  for (const [table, columns] of Object.entries(config.postgres)) {
    postgres.set(tableKey(table), new Map(Object.entries(columns).map(([column, spec]) => [column, parseTransformer(spec) as Transformer])));
  }
  const mongo = new Map<string, FieldRule[]>();
  for (const [collection, fields] of Object.entries(config.mongodb)) {
    mongo.set(collection, Object.entries(fields).map(([path, spec]) => ({ path: path.split('.'), transformer: parseTransformer(spec) as Transformer })));
  }
  if (postgres.size === 0 && mongo.size === 0) return undefined;
  return { postgres, mongo, digest: createHash('sha256').update(JSON.stringify(config)).digest('hex') };
}

/** The key from FERRY_MASK_KEY: required to mask, never written anywhere. */
export function maskKeyFromEnvironment(): string {
  const key = process.env.FERRY_MASK_KEY;
  if (key === undefined || key === '') {
    throw new FerryError('MASK_KEY_MISSING', 'masking rules are configured but FERRY_MASK_KEY is not set', {
      hint: 'Set FERRY_MASK_KEY to a secret of at least 16 characters (e.g. openssl rand -hex 32), the same on every machine whose masked data must line up.',
    });
  }
  if (key.length < 16) {
    throw new FerryError('MASK_KEY_MISSING', 'FERRY_MASK_KEY is shorter than 16 characters', { hint: 'Use a longer random secret, e.g. openssl rand -hex 32.' });
  }
  return key;
}
