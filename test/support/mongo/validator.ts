import { BSON, type Document } from 'bson';
import { CommandError } from './server.js';

const BSON_TYPES: Record<string, (v: unknown) => boolean> = {
  string: (v) => typeof v === 'string',
  int: (v) => (v as { _bsontype?: string })?._bsontype === 'Int32',
  long: (v) => (v as { _bsontype?: string })?._bsontype === 'Long',
  double: (v) => (v as { _bsontype?: string })?._bsontype === 'Double',
  bool: (v) => typeof v === 'boolean',
  date: (v) => v instanceof Date,
  object: (v) => typeof v === 'object' && v !== null && !Array.isArray(v) && !('_bsontype' in v),
  array: (v) => Array.isArray(v),
};

/**
 * The part of document validation the tests use: `{$jsonSchema: {required, properties: {f: {bsonType}}}}`.
 * Any other validator is refused when the collection is created, so no test relies on a check
 * the server does not make.
 */
export function checkValidatorSupported(validator: unknown): void {
  if (validator === undefined) return;
  const schema = (validator as Document).$jsonSchema as Document | undefined;
  const keys = Object.keys(validator as Document);
  const schemaKeys = schema === undefined ? [] : Object.keys(schema).filter((k) => !['required', 'properties', 'bsonType'].includes(k));
  const typeNames = Object.values((schema?.properties ?? {}) as Record<string, Document>).map((p) => String(p.bsonType));
  if (keys.length !== 1 || schema === undefined || schemaKeys.length > 0 || typeNames.some((t) => !(t in BSON_TYPES))) {
    throw new CommandError(2, 'BadValue', `validator ${BSON.EJSON.stringify(validator as Document)} is not implemented by the Ferry test server`);
  }
}

/** The reason a document fails the validator, or undefined when it passes. */
export function validationFailure(validator: unknown, raw: Buffer): string | undefined {
  if (validator === undefined) return undefined;
  const schema = (validator as Document).$jsonSchema as Document;
  const doc = BSON.deserialize(raw, { promoteValues: false, bsonRegExp: true });
  for (const field of (schema.required ?? []) as string[]) if (!(field in doc)) return `required property ${field} is missing`;
  for (const [field, rule] of Object.entries((schema.properties ?? {}) as Record<string, Document>)) {
    if (field in doc && BSON_TYPES[String(rule.bsonType)]?.(doc[field]) !== true) return `property ${field} is not of type ${String(rule.bsonType)}`;
  }
  return undefined;
}
